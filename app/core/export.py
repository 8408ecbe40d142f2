"""A conversation as a file: Markdown or HTML to read and share, JSON to back up and import.

Markdown and HTML hold the branch on screen (``messages.thread``); JSON holds every branch,
so exporting and importing again loses nothing.  Prompts and reasoning are plain text in the
chat, so they stay plain text here; answers are Markdown.  Qt-free, so the command line can
export too.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from app.core.markdown import hard_breaks, to_html
from common.errors import UserError
from storage import (
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
        parts.append(_markdown_message(message, store.tool_calls.for_message(message.id)))
    return "\n\n".join(parts) + "\n"


def _markdown_message(message: Message, calls=()) -> str:
    heading = f"**{_SPEAKERS[message.role]}**"
    if byline := _byline(message):
        heading += f" ({_markdown_inline(byline)})"
    parts = [heading]
    if message.reasoning:
        quoted = "\n".join(f"> {line}".rstrip() for line in
                           _markdown_literal(message.reasoning).splitlines())
        parts.append(f"> **Reasoning**\n>\n{quoted}")
    for call in calls:
        parts.append(_markdown_call(call))
    if message.content and message.role == "assistant":
        # Single line breaks stay, as the window shows them (a poem, an address).
        parts.append(hard_breaks(_closed_fence(message.content)))
    elif message.content:
        parts.append(_markdown_literal(message.content))
    if outcome := _outcome(message):
        parts.append(f"*{_markdown_inline(outcome)}*")
    return "\n\n".join(parts)


def _fenced(text: str, info: str = "text") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _call_line(call) -> str:
    took = f", {call.duration_s:.2f} s" if call.duration_s is not None else ""
    return f"Tool call: {call.recipient} ({call.status}{took})"


def _markdown_call(call) -> str:
    parts = [f"*{_markdown_inline(_call_line(call))}*"]
    if call.preamble:
        parts.append(_markdown_literal(call.preamble))
    parts.append(_fenced(call.arguments, "json" if call.content_type == "json" else "text"))
    parts.append(_fenced(call.text_for_model))
    if call.pages:
        parts.append("Opened: " + ", ".join(f"<{p}>" for p in call.pages))
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
    body = "\n".join(_html_message(m, store.tool_calls.for_message(m.id))
                     for m in store.messages.thread(conversation_id))
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _html_message(message: Message, calls=()) -> str:
    speaker = html.escape(_SPEAKERS[message.role])
    if byline := _byline(message):
        speaker += f' <span class="byline">{html.escape(byline)}</span>'
    parts = [f'<article class="message {message.role}">', f'<p class="speaker">{speaker}</p>']
    if message.reasoning:
        parts.append("<details><summary>Reasoning</summary>"
                     f'<p class="plain">{html.escape(message.reasoning)}</p></details>')
    for call in calls:
        opened = "".join(f"<li>{html.escape(p)}</li>" for p in call.pages)
        parts.append(f'<details class="tool"><summary>{html.escape(_call_line(call))}</summary>'
                     + (f'<p class="plain">{html.escape(call.preamble)}</p>' if call.preamble else "")
                     + f'<pre class="plain">{html.escape(call.arguments)}</pre>'
                     + f'<pre class="plain">{html.escape(call.text_for_model)}</pre>'
                     + (f"<ul>{opened}</ul>" if opened else "") + "</details>")
    if message.content and message.role == "assistant":
        answer = _COPY_LINK.sub("", to_html(message.content))
        parts.append(f'<div class="answer">{answer}</div>')
    elif message.content:
        parts.append(f'<p class="plain">{html.escape(message.content)}</p>')
    if outcome := _outcome(message):
        parts.append(f'<p class="outcome">{html.escape(outcome)}</p>')
    parts.append("</article>")
    return "\n".join(parts)


# JSON, every branch, for backups and import: app/core/export_json.py.
from app.core.export_json import (  # noqa: E402,F401  (re-exported: one module to import)
    dumps,
    export_json,
    import_json,
)
