"""Prompt files as Hearth imports them, read without trusting them: a JSON library
(``{"format": "hearth.prompts", "version": 1, "prompts": [...]}``) or a folder of Markdown
files, each with YAML front matter (name, kind, tags, favourite, effort, temperature,
n_ctx) above its text.

An import folder is whatever the user picked, so: only regular files are read (a FIFO
named ``x.md`` would block ``open`` forever; it is opened non-blocking and refused after
``fstat``), every size is bounded (per file, in total, in number), text must be UTF-8,
YAML may not use anchors or aliases (nine of them nest into 6 GB: the "billion laughs")
and neither YAML nor JSON may nest deeper than a prompt ever needs, and every field is
type-checked. Any problem is a :class:`PromptImportError` naming the file, and nothing is
returned until every prompt has been read and checked: the caller writes all or nothing.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from common.errors import UserError
from common.text import display_name
from common.units import format_bytes
from common.values import EFFORTS

from .prompts import KINDS, PromptError, validate

MAX_FILE_BYTES = 1_000_000  # one Markdown prompt
MAX_LIBRARY_BYTES = 50_000_000  # a JSON library, or a folder's files together
MAX_FILES = 5_000
MAX_PROMPTS = 10_000
MAX_FRONT_MATTER_CHARS = 16_000  # real ones are a few lines
MAX_TOTAL_FRONT_MATTER_CHARS = 1_000_000
MAX_NESTING = 16  # a prompt's front matter needs 2 levels (a list of tags)
_FIELDS = ("name", "kind", "body", "tags", "favourite", "effort", "temperature", "n_ctx")


class PromptImportError(UserError, ValueError):
    """An import file that cannot be read as prompts; nothing was changed."""


def read_library(source: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every prompt in ``source`` (a JSON library file or a folder of ``*.md`` files) as
    checked fields for ``store.prompts.create``; PromptImportError for any problem."""
    source = Path(source)
    shown = display_name(source)
    try:
        st = os.stat(source)
    except OSError as exc:
        raise PromptImportError(f"{shown}: {_open_problem(exc)}") from exc
    if stat.S_ISDIR(st.st_mode):
        prompts = read_folder(source)
    else:
        prompts = read_json(source)
    seen: set[str] = set()
    for fields in prompts:
        if fields["name"].lower() in seen:
            raise PromptImportError(f"{shown}: two prompts have the same name "
                                    f"(“{fields['name']}”).")
        seen.add(fields["name"].lower())
    return prompts


def read_folder(folder: Path) -> list[dict[str, Any]]:
    shown = display_name(folder)
    try:
        with os.scandir(folder) as entries:
            names = []
            for entry in entries:
                if entry.name.endswith(".md") and not entry.name.startswith("."):
                    names.append(entry.name)
                    if len(names) > MAX_FILES:
                        raise PromptImportError(f"{shown} holds more than {MAX_FILES:,} .md "
                                                "files; import them in smaller folders.")
    except OSError as exc:
        raise PromptImportError(f"{shown}: {_open_problem(exc)}") from exc
    if not names:
        raise PromptImportError(f"{shown} holds no .md files.")
    prompts, total, total_front = [], 0, 0
    for file_name in sorted(names):
        data = read_regular_file(folder / file_name, MAX_FILE_BYTES)
        total += len(data)
        if total > MAX_LIBRARY_BYTES:
            raise PromptImportError(f"{shown}: its .md files hold more than "
                                    f"{format_bytes(MAX_LIBRARY_BYTES)} together.")
        source = display_name(file_name)
        front, body = split_front_matter(_utf8(data, file_name), source)
        total_front += len(front)
        if total_front > MAX_TOTAL_FRONT_MATTER_CHARS:  # YAML is read at ~200 kB/s
            raise PromptImportError(f"{shown}: its files' front matter is longer than "
                                    f"{MAX_TOTAL_FRONT_MATTER_CHARS:,} characters together.")
        prompts.append(_prompt(front, body, source))
    return prompts


def read_json(path: Path) -> list[dict[str, Any]]:
    shown = display_name(path)
    text = _utf8(read_regular_file(path, MAX_LIBRARY_BYTES), path.name)
    try:
        data = json.loads(text)
    except RecursionError:
        raise PromptImportError(f"{shown} is nested too deeply to be a prompt library.") \
            from None
    except ValueError as exc:  # JSONDecodeError, or a number of 5,000 digits
        raise PromptImportError(f"{shown} is not a prompt library file ({_one_line(exc)}).") \
            from exc
    if not isinstance(data, dict) or data.get("format") != "hearth.prompts":
        raise PromptImportError(f"{shown} is not a Hearth prompt library "
                                "(expected \"format\": \"hearth.prompts\").")
    if data.get("version") != 1 or not isinstance(data.get("prompts"), list):
        raise PromptImportError(f"{shown}: unsupported version or no prompt list.")
    if len(data["prompts"]) > MAX_PROMPTS:
        raise PromptImportError(f"{shown} holds more than {MAX_PROMPTS:,} prompts.")
    prompts = []
    for number, item in enumerate(data["prompts"], 1):
        if not isinstance(item, dict):
            raise PromptImportError(f"{shown}: prompt {number} is not an object.")
        prompts.append(check_fields(item, f"{shown}: prompt {number}"))
    return prompts


def parse_markdown(text: str, source: str = "") -> dict[str, Any]:
    """A prompt from Markdown with YAML front matter; the body is the rest. ``source``
    (a file name, shown as given) starts every message."""
    return _prompt(*split_front_matter(text, source), source)


def split_front_matter(text: str, source: str) -> tuple[str, str]:
    """(front matter, body) of a prompt file."""
    if not text.startswith("---"):
        raise PromptImportError(f"{source}: no front matter (a '---' block with at least a name).")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise PromptImportError(f"{source}: the front matter is not closed with '---'.")
    front = parts[0].lstrip("-\n")
    if len(front) > MAX_FRONT_MATTER_CHARS:
        raise PromptImportError(f"{source}: the front matter is longer than "
                                f"{MAX_FRONT_MATTER_CHARS:,} characters.")
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return front, body


def _prompt(front: str, body: str, source: str) -> dict[str, Any]:
    meta = _load_yaml(front, source) or {}
    if not isinstance(meta, dict):
        raise PromptImportError(f"{source}: the front matter must be 'key: value' lines.")
    return check_fields({**meta, "body": body.strip("\n") + "\n" if body.strip() else ""},
                        source)


# -- reading files ---------------------------------------------------------------------


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (a link to one is fine) of at most
    ``limit`` bytes. Never blocks: a FIFO is opened non-blocking and refused."""
    shown = display_name(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | \
        getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PromptImportError(f"{shown}: {_open_problem(exc)}") from exc
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise PromptImportError(f"{shown} is a folder, not a prompt file.")
        if not stat.S_ISREG(st.st_mode):
            raise PromptImportError(f"{shown} is not a regular file (a pipe or a device); "
                                    "Hearth did not read it.")
        if st.st_size > limit:
            raise PromptImportError(f"{shown} is {format_bytes(st.st_size)}; Hearth imports "
                                    f"files of up to {format_bytes(limit)}.")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # the file may have grown since fstat
    except OSError as exc:
        raise PromptImportError(f"{shown}: {_open_problem(exc)}") from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise PromptImportError(f"{shown} is larger than {format_bytes(limit)}, the most "
                                "Hearth imports.")
    return data


def _open_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops back on itself; Hearth did not follow it."
    if exc.errno == errno.ENOENT:
        return "not found (or a link to a file that is gone)."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "Hearth is not allowed to read it."
    return f"could not be read ({exc.strerror or exc})."


def _utf8(data: bytes, file_name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptImportError(
            f"{display_name(file_name)} is not UTF-8 text (byte 0x{data[exc.start]:02X} at "
            f"position {exc.start:,}); save it as UTF-8 and import it again.") from None


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


# -- YAML without aliases, and with a depth ---------------------------------------------


class _Refused(yaml.YAMLError):
    pass


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases and stops at :data:`MAX_NESTING`.
    The composer is the one recursive step (its parser and scanner keep explicit
    stacks), so its depth bounds the Python stack too."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused("anchors and aliases (&name, *name) are not allowed in front matter")
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _Refused(f"it is nested more than {MAX_NESTING} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise PromptImportError(f"{source}: the front matter is refused: {exc}.") from None
    except yaml.MarkedYAMLError as exc:  # its str() spans lines: problem, then a mark
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 2}, column {mark.column + 1}" if mark else ""
        raise PromptImportError(f"{source}: the front matter is not valid YAML "
                                f"({_one_line(exc.problem or exc.context or 'unreadable')}"
                                f"{where}).") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # ValueError: a date like 2024-13-45, or an integer of 5,000 digits.
        raise PromptImportError(f"{source}: the front matter is not valid YAML "
                                f"({_one_line(exc)}).") from None


# -- fields ------------------------------------------------------------------------------


def check_fields(fields: dict[str, Any], source: str) -> dict[str, Any]:
    """The prompt's fields, type-checked here (a file may hold anything: a list for a
    name, a date for a tag) and then validated as every saved prompt is."""
    for key in _FIELDS:
        value = fields.get(key)
        if value is None:
            continue
        problem = _field_problem(key, value)
        if problem:
            raise PromptImportError(f"{source}: {problem}")
    try:
        return validate({key: fields[key] for key in _FIELDS if fields.get(key) is not None})
    except PromptError as exc:
        raise PromptImportError(f"{source}: {exc}") from exc


def _field_problem(key: str, value: Any) -> str | None:
    if key in ("name", "body", "kind", "effort"):
        if not isinstance(value, str):
            return f"'{key}' must be text, not {_kind_of(value)}."
        if not _encodable(value):
            return f"'{key}' holds characters that are not valid Unicode text."
        if key == "name" and any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value):
            return "'name' holds control characters (such as terminal escapes)."
        if key == "kind" and value not in KINDS:
            return f"'kind' must be preset or quick, not “{value[:40]}”."
        if key == "effort" and value not in EFFORTS:
            return f"'effort' must be one of {', '.join(EFFORTS)}, not “{value[:40]}”."
    elif key == "tags":
        tags = value if isinstance(value, list) else [value]
        if not all(isinstance(tag, str) and _encodable(tag) for tag in tags):
            return "'tags' must be a list of words."
    elif key == "favourite":
        if not isinstance(value, bool):
            return f"'favourite' must be true or false, not {_kind_of(value)}."
    elif key == "temperature":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            return f"'temperature' must be a number, not {_kind_of(value)}."
    elif key == "n_ctx":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"'n_ctx' must be a whole number of tokens, not {_kind_of(value)}."
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")  # lone surrogates ("\ud800" in JSON) cannot be stored
    except UnicodeEncodeError:
        return False
    return True


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


__all__ = ["PromptImportError", "check_fields", "parse_markdown", "read_folder", "read_json",
           "read_library", "read_regular_file", "split_front_matter"]
