"""Other apps' conversations kept as chats (Settings → Local server, `hearth serve
--record-chats`; off by default). Each chat request becomes one chat: the messages the client
sent, then the answer as the client received it (stop sequences applied), with its reasoning,
the calls it asked the client to run, model and token counts, so the person can read, search and continue it in Hearth.

The write runs on the engine's thread, which owns a database connection, queued behind the work
already there: the server's event loop never touches SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.core.turns import title_from
from inference.chat_messages import ChatMessage
from inference.events import GenerationStats, ToolCall
from storage import Store

TITLE_PREFIX = "API: "


@dataclass(frozen=True)
class Exchange:
    """One chat request and what the client got back."""

    messages: tuple[ChatMessage, ...]
    effort: str
    content: str = ""
    reasoning: str = ""
    calls: tuple[ToolCall, ...] = field(default_factory=tuple)
    stats: GenerationStats = field(default_factory=GenerationStats)
    status: str = "complete"  # "cancelled": the client left or a stop sequence ended it early
    error: str | None = None


def save(store: Store, exchange: Exchange, *, model_name: str | None,
         model_sha256: str | None) -> int:
    """Write `exchange` as a new chat; its id."""
    first = next((m.content for m in exchange.messages
                  if m.role == "user" and m.content.strip()), "")
    with store.transaction():
        conversation = store.conversations.create(TITLE_PREFIX + title_from(first or "a request"))
        for message in exchange.messages:
            text = message.content
            if message.role == "assistant":
                text = _with_calls(text, message.tool_calls)
            store.messages.add(conversation.id, message.role, text, reasoning=message.thinking)
        stats = exchange.stats
        store.messages.add(
            conversation.id, "assistant", _with_calls(exchange.content, exchange.calls), reasoning=exchange.reasoning,
            status=exchange.status, effort=exchange.effort, model_name=model_name,
            model_sha256=model_sha256, error=exchange.error,
            stats={"prompt_tokens": stats.prompt_tokens, "cached_tokens": stats.cached_tokens,
                   "generated_tokens": stats.generated_tokens, "ttft_s": stats.ttft_s,
                   "decode_s": stats.decode_s, "source": "api"})
    return conversation.id


def _with_calls(text: str, calls) -> str:
    """The calls the client was asked to run, as lines under the text: the client ran them,
    not Hearth, so they are part of what was said rather than tool runs of Hearth's own."""
    lines = [f"→ {c.recipient} {c.arguments}" for c in calls]
    return "\n\n".join(part for part in (text, "\n".join(lines)) if part)
