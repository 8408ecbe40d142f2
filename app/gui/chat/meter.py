"""The composer's context meter and the status bar's tokens/s: what the next turn would take
of the context (measured on the engine's thread, app/core/context_meter.py), and, while an
answer streams, what it fills and how fast."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core import context_meter
from app.core.tools import registry as tool_registry

if TYPE_CHECKING:
    from app.gui.chat.controller import ChatController


class ContextMeter:
    def __init__(self, chat: ChatController) -> None:
        self.chat = chat
        self._shown: tuple | None = None  # the last usage shown while streaming

    def measure(self) -> None:
        """The prompt as it would be rendered now (an empty chat too, the chat's tools declared)
        and the documents' plan, pending attachments included."""
        chat = self.chat
        if chat.session.model is None:
            return
        conversation_id = chat.conversation_id
        defaults = chat.defaults()
        effort = chat.effort_provider() or defaults.effort
        thinking = chat.thinking_provider()
        pending = tuple(chat.pending_documents() or ())
        tools = chat.tools
        keys = tool_registry.chat_keys(chat.store, conversation_id) if tools else []

        def measure(state) -> int:  # on the engine's thread: tokenizing can take a while
            engine = state.require_engine()
            toolbox = tools.toolbox(keys, conversation_id) if tools and engine.template.is_harmony \
                else None
            return context_meter.measure(
                state.store, engine, conversation_id, instructions=defaults.instructions,
                effort=effort, thinking=thinking, pending=pending,
                tool_options=toolbox.render_options() if toolbox else None)

        chat.session.run(measure, lambda used: self._used(conversation_id, used),
                         lambda _exc: None)  # a template that cannot render this: no meter

    def _used(self, conversation_id: int | None, used: int) -> None:
        chat = self.chat
        if chat.session.model is not None and conversation_id == chat.conversation_id:
            chat.context_changed.emit(used, chat.session.model.n_ctx)

    def show_usage(self, usage: list) -> None:
        """While an answer streams: the context it fills, and its tokens/s so far."""
        chat, model = self.chat, self.chat.session.model
        if not usage or model is None:
            return
        (start, first), (now, used) = usage[0], usage[-1]
        if self._shown == usage[-1]:  # called on every drain; nothing new since the last
            return
        self._shown = usage[-1]
        if chat.conversation_id == chat._streaming_in:
            chat.context_changed.emit(used, model.n_ctx)
        if now > start and used > first:
            chat.speed_changed.emit((used - first) / (now - start))
