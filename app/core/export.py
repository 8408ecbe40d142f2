"""A conversation as a file: Markdown or HTML to read and share, JSON to back up and import.

Markdown and HTML hold the branch on screen (``messages.thread``); JSON holds every branch,
so exporting and importing again loses nothing.  Prompts and reasoning are plain text in the
chat, so they stay plain text here; answers are Markdown.  Qt-free, so the command line can
export too.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from markdown_it import MarkdownIt

from app.core.markdown import hard_breaks, to_html
from common.errors import UserError
from common.values import EFFORTS
from storage import (
    INTERRUPTED_ERROR,
    ROLES,
    STATUSES,
    Conversation,
    Message,
    Store,
)

FORMAT = "hearth.conversation"
VERSION = 1
_SPEAKERS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
# CommonMark with raw HTML on, as most Markdown viewers parse it: to spot text they would
# take for HTML.
_viewer_markdown = MarkdownIt("commonmark")


class ConversationImportError(UserError, ValueError):
    """The data is not a conversation this Hearth can import; ``str()`` says why, in words
    for the user."""


def _conversation(store: Store, conversation_id: int) -> Conversation:
    conversation = store.conversations.get(conversation_id)
    if conversation is None:
        raise KeyError(f"no conversation with id {conversation_id}")
    return conversation


def _byline(message: Message) -> str:
    """'model, effort' for an answer; '' when neither is known."""
    return ", ".join(part for part in (message.model_name, message.effort) if part)


def _outcome(message: Message) -> str:
    """Why an answer is not whole, in words; '' when it is."""
    if message.status == "failed":
        return f"Failed: {message.error}" if message.error else "Failed"
    if message.status == "cancelled":
        return "Stopped before the end"
    if message.status == "streaming":
        return "Still being written when exported"
    return ""


# --- Markdown ---------------------------------------------------------------------------------

def export_markdown(store: Store, conversation_id: int) -> str:
    """The title and the branch shown: "**You**" / "**Assistant** (model, effort)" turns,
    reasoning as a quoted "Reasoning" block, answers verbatim.  KeyError for an unknown id."""
    conversation = _conversation(store, conversation_id)
    parts = [f"# {_markdown_inline(conversation.title)}"]
    for message in store.messages.thread(conversation_id):
        parts.append(_markdown_message(message))
    return "\n\n".join(parts) + "\n"


def _markdown_message(message: Message) -> str:
    heading = f"**{_SPEAKERS[message.role]}**"
    if byline := _byline(message):
        heading += f" ({_markdown_inline(byline)})"
    parts = [heading]
    if message.reasoning:
        quoted = "\n".join(f"> {line}".rstrip() for line in
                           _markdown_literal(message.reasoning).splitlines())
        parts.append(f"> **Reasoning**\n>\n{quoted}")
    if message.content and message.role == "assistant":
        # Single line breaks stay, as the window shows them (a poem, an address).
        parts.append(hard_breaks(_closed_fence(message.content)))
    elif message.content:
        parts.append(_markdown_literal(message.content))
    if outcome := _outcome(message):
        parts.append(f"*{_markdown_inline(outcome)}*")
    return "\n\n".join(parts)


def _has_html(text: str) -> bool:
    for token in _viewer_markdown.parse(text):
        if token.type == "html_block" or any(
            child.type == "html_inline" for child in token.children or ()
        ):
            return True
    return False


def _markdown_inline(text: str) -> str:
    """A one-line plain text (title, model name) a viewer will not read as HTML."""
    return html.escape(text, quote=False) if _has_html(text) else text


def _markdown_literal(text: str) -> str:
    """Plain text as typed: verbatim, unless a viewer would take part of it for HTML; then
    fenced, which every viewer shows character for character."""
    if not _has_html(text):
        return text
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _closed_fence(answer: str) -> str:
    """The answer, with a code block left open (the answer was stopped mid-code) closed, so
    it does not swallow the turns after it."""
    tokens = _viewer_markdown.parse(answer)
    last = tokens[-1] if tokens else None
    if last is None or last.type != "fence" or last.level != 0 or last.map is None:
        return answer
    lines = answer.splitlines()
    closing = lines[last.map[1] - 1].strip() if last.map[1] - 1 > last.map[0] else ""
    if closing.startswith(last.markup) and closing.strip(last.markup[0]) == "":
        return answer
    return f"{answer}\n{last.markup}"


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f5f3; color: #1f1e1c;
       font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 1.5rem; }
.message { margin: 0 0 1.25rem; padding: 0.75rem 1rem; border-radius: 10px; background: #fff; }
.message.user { background: #e9eef7; }
.speaker { font-weight: 600; margin: 0 0 0.4rem; }
.byline, .outcome { color: #6b6760; font-weight: normal; font-size: 0.9em; }
.plain { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
details { margin: 0 0 0.6rem; color: #4b4842; }
summary { cursor: pointer; color: #6b6760; }
details .plain { border-left: 3px solid #d9d5cf; padding-left: 0.75rem; margin-top: 0.4rem; }
pre { overflow-x: auto; }
table { border-collapse: collapse; }
.answer > :first-child { margin-top: 0; }
.answer > :last-child { margin-bottom: 0; }
"""
# Nothing but the inline style may load or run, even if an answer slipped something past
# the Markdown renderer.
_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
# app.markdown gives each code block a "Copy" link for the chat window; a file has no use
# for it.
_COPY_LINK = re.compile(r'<a href="copy:\d+"[^>]*>Copy</a>')


def export_html(store: Store, conversation_id: int) -> str:
    """A standalone page of the branch shown: inline CSS, no scripts, nothing fetched.
    Answers rendered from Markdown, reasoning folded in ``<details>``.  KeyError for an
    unknown id."""
    conversation = _conversation(store, conversation_id)
    title = html.escape(conversation.title)
    body = "\n".join(_html_message(m) for m in store.messages.thread(conversation_id))
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _html_message(message: Message) -> str:
    speaker = html.escape(_SPEAKERS[message.role])
    if byline := _byline(message):
        speaker += f' <span class="byline">{html.escape(byline)}</span>'
    parts = [f'<article class="message {message.role}">', f'<p class="speaker">{speaker}</p>']
    if message.reasoning:
        parts.append("<details><summary>Reasoning</summary>"
                     f'<p class="plain">{html.escape(message.reasoning)}</p></details>')
    if message.content and message.role == "assistant":
        answer = _COPY_LINK.sub("", to_html(message.content))
        parts.append(f'<div class="answer">{answer}</div>')
    elif message.content:
        parts.append(f'<p class="plain">{html.escape(message.content)}</p>')
    if outcome := _outcome(message):
        parts.append(f'<p class="outcome">{html.escape(outcome)}</p>')
    parts.append("</article>")
    return "\n".join(parts)


# --- JSON -------------------------------------------------------------------------------------

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
        "messages": [{name: getattr(m, name) for name in _MESSAGE_FIELDS}
                     for m in store.messages.list_for(conversation_id)],
        "current_leaf_id": conversation.current_leaf_id,
    }


def dumps(data: Mapping[str, Any]) -> str:
    """:func:`export_json`'s dict as the text of a ``.json`` file (UTF-8, indented)."""
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


@dataclass(frozen=True)
class _Imported:
    """A validated message, still carrying the file's ids."""

    id: int
    parent_id: int | None
    fields: dict[str, Any]  # keyword arguments for store.messages.add


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
        messages.append(_Imported(message_id, parent_id, _message_fields(item, where)))
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
