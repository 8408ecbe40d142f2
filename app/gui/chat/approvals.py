"""Asking the person whether a tool call may run: from the engine's thread, where the tool loop
waits, to the call's block in the answer (Allow once · Allow for this chat · Deny), and back.
Stop counts as Deny. A question asked while its chat is not shown waits until it is."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from app.gui.chat.tool_block import approval_detail

if TYPE_CHECKING:
    from app.gui.chat.controller import ChatController


class ApprovalPrompts:
    def __init__(self, controller: ChatController) -> None:
        self.chat = controller
        self.pending = None  # (request, reply, detail) while a call waits for the person

    def asker(self, cancel: threading.Event, toolbox):
        """The `ask` the tool loop calls on the engine's thread; blocks until answered."""
        def ask(request) -> str:
            tool = toolbox.find(request.call.recipient) if toolbox else None
            # python's isolation sentence may start a throwaway worker: here, not on the GUI.
            detail = approval_detail(request.spec.title or request.spec.name,
                                     getattr(tool, "isolation", None))
            decided, answer = threading.Event(), {}

            def reply(decision: str) -> None:
                answer["decision"] = decision
                decided.set()
            self.chat._on_gui(lambda: self._show(request, reply, detail))
            while not decided.wait(0.1):
                if cancel.is_set():
                    self.chat._on_gui(self._clear)
                    return "deny"
            return answer["decision"]
        return ask

    def _clear(self) -> None:
        self.pending = None

    def _show(self, request, reply, detail: str) -> None:
        self.pending = (request, reply, detail)
        self.show_pending(self.chat._stream_widget)

    def show_pending(self, widget) -> None:
        if self.pending is None or widget is None:
            return
        request, reply, detail = self.pending
        block = widget.tools.block(request.seq, request.spec.title or request.spec.name,
                                   request.call.recipient, request.call.arguments)
        block.ask(detail)

        def decided(decision: str) -> None:
            self.pending = None
            reply(decision)
        block.decided.connect(decided)
