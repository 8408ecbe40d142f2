"""Saved prompts: presets (a conversation's developer instructions, with defaults) and quick
prompts (text for the composer). Each save keeps the earlier state as a version."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from common.errors import UserError
from common.values import EFFORTS

from .clock import utc_now
from .errors import stored_json

if TYPE_CHECKING:
    from .db import Store

KINDS = ("preset", "quick")
# {{name}}, {{name:long}} or {{name:a|b}} in a prompt's text: a value asked for when it is used
# (app/core/prompt_library.py), except the built-ins, which Hearth fills itself.
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*(?::([^{}]*))?\}\}")
BUILTINS = ("date", "clipboard", "selection")
# A form of 50 fields is already long; one of 10,000 froze the window for seconds.
MAX_VARIABLES = 50
_COLUMNS = "id, name, kind, body, tags, favourite, effort, temperature, n_ctx, created_at, updated_at"
_EDITABLE = ("name", "kind", "body", "tags", "favourite", "effort", "temperature", "n_ctx")


class PromptError(UserError, ValueError):
    """A prompt that cannot be saved as given; the message is for the user."""


@dataclass(frozen=True)
class Prompt:
    id: int
    name: str
    kind: str  # preset | quick
    body: str
    tags: tuple[str, ...] = ()
    favourite: bool = False
    effort: str | None = None
    temperature: float | None = None
    n_ctx: int | None = None
    created_at: str = ""
    updated_at: str = ""

    def fields(self) -> dict[str, Any]:
        """The user-editable fields, JSON-ready."""
        data = {k: v for k, v in asdict(self).items() if k in _EDITABLE}
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True)
class PromptVersion:
    id: int
    prompt_id: int
    fields: dict = field(hash=False)  # the prompt's editable fields as they were
    created_at: str = ""  # when this state was replaced by a save


def _row(row: dict) -> Prompt:
    return Prompt(**{**row, "tags": tuple(stored_json(row["tags"], [], list)),
                      "favourite": bool(row["favourite"])})


def variable_count(body: str) -> int:
    """How many values the text asks for: its distinct variables, built-ins left out."""
    return len({m[1] for m in VARIABLE.finditer(body)} - set(BUILTINS))


def validate(fields: dict[str, Any]) -> dict[str, Any]:
    """Checked and normalised fields; PromptError says what is wrong."""
    name = " ".join(str(fields.get("name", "")).split())
    if not name:
        raise PromptError("A prompt needs a name.")
    if name.startswith("/") or len(name) > 80:
        raise PromptError("A prompt's name must not start with '/' and is at most 80 characters.")
    kind = fields.get("kind", "quick")
    if kind not in KINDS:
        raise PromptError(f"A prompt is a preset or a quick prompt, not {kind!r}.")
    body = fields.get("body", "")
    if not isinstance(body, str) or not body.strip():
        raise PromptError(f"“{name}” has no text.")
    if (count := variable_count(body)) > MAX_VARIABLES:
        raise PromptError(f"“{name}” has {count:,} variables; a prompt may have at most "
                          f"{MAX_VARIABLES}.")
    tags = fields.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in (x.strip() for x in tags.split(",")) if t]
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise PromptError("Tags must be a list of words.")
    effort = fields.get("effort") or None
    if effort is not None and effort not in EFFORTS:
        raise PromptError(f"Effort must be low, medium or high, not {effort!r}.")
    temperature = fields.get("temperature")
    if temperature is not None:
        try:
            temperature = float(temperature)
        except (TypeError, ValueError):
            raise PromptError("Temperature must be a number.") from None
        if not 0.0 <= temperature <= 2.0:
            raise PromptError("Temperature must be between 0 and 2.")
    n_ctx = fields.get("n_ctx")
    if n_ctx is not None:
        if not isinstance(n_ctx, int) or isinstance(n_ctx, bool) or not 512 <= n_ctx <= 1_048_576:
            raise PromptError("The context size must be a whole number of tokens, 512 or more.")
    return {"name": name, "kind": kind, "body": body, "tags": sorted(set(tags), key=str.lower),
            "favourite": bool(fields.get("favourite", False)), "effort": effort,
            "temperature": temperature, "n_ctx": n_ctx}


class Prompts:
    """``store.prompts``: the saved-prompt library."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def list(self, kind: str | None = None) -> list[Prompt]:
        """Favourites first, then by name."""
        where, args = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM prompts {where} ORDER BY favourite DESC, name COLLATE NOCASE",
            args)
        return [_row(r) for r in rows]

    def get(self, prompt_id: int) -> Prompt | None:
        rows = list(self._store.db.query(f"SELECT {_COLUMNS} FROM prompts WHERE id = ?", (prompt_id,)))
        return _row(rows[0]) if rows else None

    def by_name(self, name: str) -> Prompt | None:
        rows = list(self._store.db.query(
            f"SELECT {_COLUMNS} FROM prompts WHERE name = ? COLLATE NOCASE", (name.strip(),)))
        return _row(rows[0]) if rows else None

    def create(self, **fields: Any) -> Prompt:
        data = validate(fields)
        if self.by_name(data["name"]) is not None:
            raise PromptError(f"A prompt named “{data['name']}” exists already.")
        now = utc_now()
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO prompts (name, kind, body, tags, favourite, effort, temperature,"
                " n_ctx, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (data["name"], data["kind"], data["body"], json.dumps(data["tags"]),
                 int(data["favourite"]), data["effort"], data["temperature"], data["n_ctx"],
                 now, now))
        return self.get(cast(int, cursor.lastrowid))  # type: ignore[return-value]

    def update(self, prompt_id: int, **changes: Any) -> Prompt:
        """Save changes; the state before them becomes a version. KeyError for no such id."""
        current = self.get(prompt_id)
        if current is None:
            raise KeyError(f"no prompt with id {prompt_id}")
        data = validate({**current.fields(), **changes})
        clash = self.by_name(data["name"])
        if clash is not None and clash.id != prompt_id:
            raise PromptError(f"A prompt named “{data['name']}” exists already.")
        if data == validate(current.fields()):
            return current  # nothing changed: no version either
        now = utc_now()
        with self._store.transaction():
            self._store.db.execute(
                "INSERT INTO prompt_versions (prompt_id, snapshot, created_at) VALUES (?, ?, ?)",
                (prompt_id, json.dumps(current.fields(), ensure_ascii=False), now))
            self._store.db.execute(
                "UPDATE prompts SET name = ?, kind = ?, body = ?, tags = ?, favourite = ?,"
                " effort = ?, temperature = ?, n_ctx = ?, updated_at = ? WHERE id = ?",
                (data["name"], data["kind"], data["body"], json.dumps(data["tags"]),
                 int(data["favourite"]), data["effort"], data["temperature"], data["n_ctx"],
                 now, prompt_id))
        return self.get(prompt_id)  # type: ignore[return-value]

    def versions(self, prompt_id: int) -> list[PromptVersion]:
        """Earlier states, newest first."""
        rows = self._store.db.query(
            "SELECT id, prompt_id, snapshot, created_at FROM prompt_versions"
            " WHERE prompt_id = ? ORDER BY id DESC", (prompt_id,))
        return [PromptVersion(r["id"], r["prompt_id"], json.loads(r["snapshot"]), r["created_at"])
                for r in rows]

    def restore(self, version_id: int) -> Prompt:
        """Bring an earlier state back (as a new save: the current one becomes a version)."""
        rows = list(self._store.db.query(
            "SELECT prompt_id, snapshot FROM prompt_versions WHERE id = ?", (version_id,)))
        if not rows:
            raise KeyError(f"no prompt version {version_id}")
        return self.update(rows[0]["prompt_id"], **json.loads(rows[0]["snapshot"]))

    def duplicate(self, prompt_id: int) -> Prompt:
        original = self.get(prompt_id)
        if original is None:
            raise KeyError(f"no prompt with id {prompt_id}")
        name, n = f"{original.name} (copy)", 2
        while self.by_name(name) is not None:
            name, n = f"{original.name} (copy {n})", n + 1
        return self.create(**{**original.fields(), "name": name})

    def delete(self, prompt_id: int) -> bool:
        """Delete a prompt and its versions; conversations using it as a preset keep going
        without one."""
        with self._store.transaction():
            cursor = self._store.db.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,))
        return cursor.rowcount > 0

    def search(self, text: str) -> list[Prompt]:
        """Prompts whose name, tags or text contain every word of `text`."""
        words = text.lower().split()
        return [p for p in self.list()
                if all(w in f"{p.name} {' '.join(p.tags)} {p.body}".lower() for w in words)]


__all__ = ["BUILTINS", "KINDS", "MAX_VARIABLES", "VARIABLE", "Prompt", "PromptError",
           "PromptVersion", "Prompts", "validate", "variable_count"]
