"""A conversation as JSON, every branch and every tool call, and back: the backup and import
format (`hearth.conversation`, version 1). An import is checked in full before anything is
written, in one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from app.core.export import FORMAT, VERSION, ConversationImportError, _conversation
from common.values import EFFORTS
from storage import INTERRUPTED_ERROR, ROLES, STATUSES, Store
from storage.tool_calls import STATUSES as CALL_STATUSES

_MESSAGE_FIELDS = ("id", "parent_id", "role", "content", "reasoning", "status", "effort",
                   "model_name", "model_sha256", "stats", "error", "created_at")


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """Every branch of the conversation (deleted messages aside) and the one shown, as a
    JSON-ready dict; see :func:`import_json`.  KeyError for an unknown id."""
    conversation = _conversation(store, conversation_id)
    return {
        "format": FORMAT,
        "version": VERSION,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "pinned": conversation.pinned,
        "messages": [_message_json(store, m) for m in store.messages.list_for(conversation_id)],
        "current_leaf_id": conversation.current_leaf_id,
    }


_CALL_FIELDS = ("seq", "recipient", "arguments", "channel", "content_type", "constrained",
                "call_id", "reasoning", "preamble", "status", "result", "error", "pages",
                "started_at", "duration_s")


def _message_json(store: Store, message) -> dict[str, Any]:
    out = {name: getattr(message, name) for name in _MESSAGE_FIELDS}
    calls = store.tool_calls.for_message(message.id) if message.role == "assistant" else []
    if calls:
        out["tool_calls"] = [{name: (list(v) if isinstance(v := getattr(c, name), tuple) else v)
                              for name in _CALL_FIELDS} for c in calls]
    return out


def dumps(data: Mapping[str, Any]) -> str:
    """:func:`export_json`'s dict as the text of a ``.json`` file (UTF-8, indented)."""
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class _Imported:
    """A validated message, still carrying the file's ids."""

    id: int
    parent_id: int | None
    fields: dict[str, Any]  # keyword arguments for store.messages.add
    calls: tuple[dict, ...] = ()  # keyword arguments for store.tool_calls.add, and the outcome


def import_json(store: Store, data: Mapping[str, Any] | str | bytes) -> int:
    """Add the conversation in ``data`` (an :func:`export_json` dict, or a file's text or
    bytes) as a new conversation; returns its id.

    Everything is checked before anything is written, and written in one transaction:
    on any problem, ConversationImportError says what, and the database is unchanged.
    Message ids are new; an answer that was still being written imports as failed.
    Unknown keys are ignored, so a file with additions of a later version 1 still reads.
    """
    document = _document(data)
    title = _text(document, "title", "The conversation").strip()
    if not title:
        raise ConversationImportError("The conversation has no title.")
    created_at = _timestamp(document, "created_at", "The conversation")
    pinned = document.get("pinned")
    if not isinstance(pinned, bool):
        raise ConversationImportError('"pinned" must be true or false.')
    messages = _messages(document.get("messages"))
    leaf = document.get("current_leaf_id")
    if (leaf is None and messages) or (
        leaf is not None and (not _is_int(leaf) or leaf not in {m.id for m in messages})
    ):
        raise ConversationImportError(
            '"current_leaf_id" does not name one of the conversation\'s messages.')

    with store.transaction():
        conversation = store.conversations.create(title, created_at=created_at)
        if pinned:
            store.conversations.set_pinned(conversation.id, True)
        new_ids: dict[int, int] = {}
        for message in messages:
            parent = None if message.parent_id is None else new_ids[message.parent_id]
            added = store.messages.add(conversation.id, parent_id=parent, **message.fields)
            new_ids[message.id] = added.id
            for call in message.calls:
                outcome = call.pop("outcome")
                row = store.tool_calls.add(added.id, **call)
                store.tool_calls.update(row.id, **outcome)
        if leaf is not None:
            store.conversations.switch_branch(conversation.id, new_ids[leaf])
    return conversation.id


def _document(data: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConversationImportError("The file is not UTF-8 text.") from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ConversationImportError(f"The file is not valid JSON ({exc}).") from None
        except RecursionError:
            raise ConversationImportError("The file's JSON is nested too deeply.") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ConversationImportError("This is not a conversation exported from Hearth.")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConversationImportError('The conversation\'s "version" is missing or invalid.')
    if version > VERSION:
        raise ConversationImportError(
            f"This conversation was exported by a newer Hearth (format version {version});"
            " update Hearth to import it.")
    return data


def _messages(items: object) -> list[_Imported]:
    if not isinstance(items, list):
        raise ConversationImportError('"messages" must be a list.')
    seen: set[int] = set()
    messages = []
    for position, item in enumerate(items, start=1):
        where = f"Message {position}"
        if not isinstance(item, Mapping):
            raise ConversationImportError(f"{where} is not an object.")
        message_id = item.get("id")
        if not _is_int(message_id) or message_id in seen:
            raise ConversationImportError(f"{where} has a missing or repeated id.")
        parent_id = item.get("parent_id")
        if parent_id is not None and (not _is_int(parent_id) or parent_id not in seen):
            raise ConversationImportError(
                f"{where} follows message {parent_id!r}, which is not earlier in the file.")
        seen.add(message_id)
        messages.append(_Imported(message_id, parent_id, _message_fields(item, where),
                                  _calls(item.get("tool_calls"), where)))
    return messages


def _message_fields(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role = _choice(item, "role", ROLES, where)
    status = _choice(item, "status", STATUSES, where)
    error = _optional_text(item, "error", where)
    if status == "streaming":  # cut off when exported: as mark_interrupted would leave it
        status, error = "failed", INTERRUPTED_ERROR
    stats = item.get("stats")
    if not isinstance(stats, Mapping):
        raise ConversationImportError(f'{where}: "stats" must be an object.')
    try:
        json.dumps(stats, allow_nan=False)
    except (TypeError, ValueError):
        raise ConversationImportError(f'{where}: "stats" holds values JSON cannot.') from None
    effort = item.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise ConversationImportError(f"{where} has an unknown effort {effort!r}.")
    return {
        "role": role,
        "content": _text(item, "content", where),
        "reasoning": _text(item, "reasoning", where),
        "status": status,
        "effort": effort,
        "model_name": _optional_text(item, "model_name", where),
        "model_sha256": _optional_text(item, "model_sha256", where),
        "stats": dict(stats),
        "error": error,
        "created_at": _timestamp(item, "created_at", where),
    }


def _calls(items: object, where: str) -> tuple[dict, ...]:
    """An answer's tool calls, checked (the key is optional: files from before tools)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConversationImportError(f'{where}: "tool_calls" must be a list.')
    calls, seqs = [], set()
    for n, item in enumerate(items, start=1):
        at = f"{where}, tool call {n}"
        if not isinstance(item, Mapping):
            raise ConversationImportError(f"{at} is not an object.")
        seq = item.get("seq")
        if not _is_int(seq) or seq < 0 or seq in seqs:
            raise ConversationImportError(f'{at}: "seq" is missing or repeated.')
        seqs.add(seq)
        status = _choice(item, "status", CALL_STATUSES, at)
        if status in ("pending", "running"):  # cut off when exported
            status = "cancelled"
        pages = item.get("pages", [])
        if not isinstance(pages, list) or not all(isinstance(p, str) for p in pages):
            raise ConversationImportError(f'{at}: "pages" must be a list of addresses.')
        duration = item.get("duration_s")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
            raise ConversationImportError(f'{at}: "duration_s" must be a number or null.')
        constrained = item.get("constrained", False)
        if not isinstance(constrained, bool):
            raise ConversationImportError(f'{at}: "constrained" must be true or false.')
        calls.append({
            "seq": seq, "recipient": _text(item, "recipient", at),
            "arguments": _text(item, "arguments", at), "channel": _text(item, "channel", at),
            "content_type": _text(item, "content_type", at), "constrained": constrained,
            "call_id": _text(item, "call_id", at), "reasoning": _text(item, "reasoning", at),
            "preamble": _text(item, "preamble", at), "status": "pending",
            "outcome": {"status": status, "result": _optional_text(item, "result", at),
                        "error": _optional_text(item, "error", at), "pages": pages,
                        "duration_s": duration}})
    return tuple(calls)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise ConversationImportError(f'{where}: "{key}" must be text.')
    return value


def _optional_text(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise ConversationImportError(f'{where}: "{key}" must be text or null.')
    return value


def _choice(item: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str:
    value = item.get(key)
    if value not in allowed:
        raise ConversationImportError(f"{where} has an unknown {key} {value!r}.")
    return value


def _timestamp(item: Mapping[str, Any], key: str, where: str) -> str:
    """The time as Hearth stores it (UTC ISO-8601, microseconds); it must name a time zone."""
    value = _text(item, key, where)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConversationImportError(f'{where}: "{key}" is not a date with a time zone.')
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
