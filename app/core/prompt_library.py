"""Saved prompts put to use: {{variables}}, quick prompts into the composer, presets as a
conversation's instructions, the starter set, and import/export (JSON, or a folder of Markdown
files with front matter). Qt-free: the window and `hearth chat --prompt` apply a prompt through
the same functions, so both send exactly the same text."""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from common.errors import UserError
from storage import Store
from storage.prompt_files import (  # noqa: F401  (PromptImportError: re-exported for callers)
    PromptImportError,
    parse_markdown,
    read_library,
)
from storage.prompts import BUILTINS, Prompt, PromptError
from storage.prompts import VARIABLE as _VARIABLE  # the syntax is the stored prompt's
_SEEDED_KEY = "starter_prompts_seeded"
_VALUES_PREFIX = "preset_values:"  # a conversation's answers to its preset's variables


class PromptVariableError(UserError, ValueError):
    """A variable without a value, an unknown one, or a choice not offered; for the user."""


@dataclass(frozen=True)
class Variable:
    name: str
    kind: str  # text | long | choice
    choices: tuple[str, ...] = ()


def variables(body: str) -> list[Variable]:
    """The variables a prompt asks for, in order, built-ins left out.

    `{{topic}}` a line of text, `{{text:long}}` several lines, `{{tone:formal|casual}}` a choice.
    """
    found: dict[str, Variable] = {}
    for match in _VARIABLE.finditer(body):
        name, spec = match.group(1), (match.group(2) or "").strip()
        if name in BUILTINS or name in found:
            continue
        if "|" in spec:
            found[name] = Variable(name, "choice", tuple(c.strip() for c in spec.split("|") if c.strip()))
        else:
            found[name] = Variable(name, "long" if spec == "long" else "text")
    return list(found.values())


def builtin_values(clipboard: str = "", selection: str = "", today: _dt.date | None = None) -> dict:
    return {"date": (today or _dt.date.today()).isoformat(), "clipboard": clipboard,
            "selection": selection}


def fill(prompt: Prompt, values: dict[str, str], builtins: dict[str, str] | None = None) -> str:
    """The prompt's text with every variable replaced; PromptVariableError says what is off."""
    wanted = {v.name: v for v in variables(prompt.body)}
    unknown = sorted(set(values) - set(wanted) - set(BUILTINS))
    if unknown:
        known = ", ".join(wanted) or "none"
        raise PromptVariableError(f"“{prompt.name}” has no variable {{{{{unknown[0]}}}}}; "
                                  f"its variables are: {known}.")
    builtins = {**builtin_values(), **(builtins or {})}
    for name, variable in wanted.items():
        value = values.get(name)
        if value is None or not str(value).strip():
            raise PromptVariableError(f"“{prompt.name}” needs a value for {{{{{name}}}}}.")
        if variable.kind == "choice" and value not in variable.choices:
            raise PromptVariableError(f"{{{{{name}}}}} must be one of: {', '.join(variable.choices)}.")

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name in wanted:
            return str(values[name])
        if name in BUILTINS:
            if name in ("clipboard", "selection") and not builtins.get(name):
                raise PromptVariableError(f"“{prompt.name}” uses {{{{{name}}}}}, which is empty.")
            return str(builtins[name])
        return match.group(0)

    return _VARIABLE.sub(substitute, prompt.body)


# -- presets in conversations ----------------------------------------------------------------


def preset_values(store: Store, conversation_id: int) -> dict:
    return store.settings.get(f"{_VALUES_PREFIX}{conversation_id}") or {}


def set_preset(store: Store, conversation_id: int, preset: Prompt | None,
               values: dict | None = None) -> None:
    """Use `preset` in the conversation (None: none). Its variables are checked now, so a
    preset that cannot be filled is refused here, not at the next turn."""
    if preset is not None:
        if preset.kind != "preset":
            raise PromptError(f"“{preset.name}” is a quick prompt, not a preset.")
        fill(preset, values or {})
    with store.transaction():
        store.conversations.set_preset(conversation_id, preset.id if preset else None)
        store.settings.set(f"{_VALUES_PREFIX}{conversation_id}", values or {})


def instructions_for(store: Store, conversation_id: int) -> tuple[str | None, Prompt | None]:
    """The developer instructions a turn in this conversation sends, and the preset."""
    conversation = store.conversations.get(conversation_id)
    if conversation is None or conversation.preset_id is None:
        return None, None
    preset = store.prompts.get(conversation.preset_id)
    if preset is None:
        return None, None
    wanted = {v.name for v in variables(preset.body)}  # values for variables since removed: ignored
    values = {k: v for k, v in preset_values(store, conversation_id).items() if k in wanted}
    return fill(preset, values), preset


@dataclass(frozen=True)
class Applied:
    """What applying a saved prompt to one message gives: the same in the window and the CLI."""

    text: str  # the user's message
    instructions: str | None
    effort: str | None
    temperature: float | None


def apply(prompt: Prompt, values: dict, text: str = "", builtins: dict | None = None) -> Applied:
    """A quick prompt becomes the message (with `text` after it, as if typed after inserting
    it); a preset becomes the instructions, and `text` the message."""
    filled = fill(prompt, values, builtins)
    if prompt.kind == "quick":
        message = filled if not text.strip() else f"{filled}\n\n{text}"
        return Applied(message, None, None, None)
    return Applied(text, filled, prompt.effort, prompt.temperature)


# -- the starter set and import/export ---------------------------------------------------------


def ensure_starters(store: Store) -> int:
    """Add the shipped prompts once (a user who deletes them does not get them back)."""
    if store.settings.get(_SEEDED_KEY):
        return 0
    from resources import starter_prompts

    added = 0
    with store.transaction():
        for name, text in starter_prompts():
            fields = parse_markdown(text, name)
            if store.prompts.by_name(fields["name"]) is None:
                store.prompts.create(**fields)
                added += 1
        store.settings.set(_SEEDED_KEY, True)
    return added


def to_markdown(prompt: Prompt) -> str:
    meta = {k: v for k, v in prompt.fields().items() if k != "body" and v not in (None, [], False)}
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).strip()
    return f"---\n{front}\n---\n{prompt.body.rstrip()}\n"


def export_library(store: Store, target: Path, fmt: str = "json") -> int:
    """Write every prompt to `target`: one JSON file, or a folder of Markdown files."""
    prompts = store.prompts.list()
    if fmt == "json":
        data = {"format": "hearth.prompts", "version": 1, "prompts": [p.fields() for p in prompts]}
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        target.mkdir(parents=True, exist_ok=True)
        for p in prompts:
            safe = re.sub(r"[^\w\- ]", "_", p.name).strip() or f"prompt-{p.id}"
            (target / f"{safe}.md").write_text(to_markdown(p), encoding="utf-8")
    return len(prompts)


def import_library(store: Store, source: Path) -> tuple[int, int]:
    """Read prompts from a JSON file or a folder of Markdown files. All are checked before any
    is written; a prompt with a known name is updated (its old text kept as a version).
    Returns (added, updated)."""
    incoming = read_library(source)  # every file read and checked first (storage/prompt_files)
    added = updated = 0
    with store.transaction():
        for fields in incoming:
            existing = store.prompts.by_name(fields["name"])
            if existing is None:
                store.prompts.create(**fields)
                added += 1
            else:
                store.prompts.update(existing.id, **fields)
                updated += 1
    return added, updated
