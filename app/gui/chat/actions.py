"""What a person does to one message (copy, regenerate, edit, continue, delete and undo,
switch branch, re-run exactly, open a citation), as the chat controller's methods.

Kept apart from app/chat/controller.py, which owns conversations, the view and the turn
lifecycle: every action here ends in one of its calls (open_conversation, _start_turn).
"""

from __future__ import annotations

import datetime as _dt

from app.core.turns import TurnRequest
from app.gui.qt import QtGui
from inference.sampling import Sampling


class MessageActions:
    """Mixed into ChatController; uses its store, view, signals and turn machinery."""

    def _on_action(self, action: str, message_id: int) -> None:
        if action == "copy":
            message = self.store.messages.get(message_id)
            QtGui.QGuiApplication.clipboard().setText(message.content if message else "")
        elif action == "regenerate":
            self.regenerate(message_id)
        elif action == "continue":
            self.continue_answer(message_id)
        elif action == "delete":
            self.delete_message(message_id)
        elif action == "edit":
            self.start_edit(message_id)
        elif action == "info":
            self.info_requested.emit(message_id)
        elif action in ("branch-1", "branch+1"):
            self.switch_branch(message_id, -1 if action == "branch-1" else 1)
        elif action.startswith("cite:"):
            self.citation_requested.emit(message_id, int(action[5:]))

    def switch_branch(self, message_id: int, step: int) -> None:
        siblings = self.store.messages.siblings(message_id)
        ids = [m.id for m in siblings]
        if message_id not in ids or self.busy:
            return
        target = ids[max(0, min(len(ids) - 1, ids.index(message_id) + step))]
        self.store.conversations.switch_branch(self.conversation_id, target)
        self.open_conversation(self.conversation_id)

    def delete_message(self, message_id: int) -> None:
        if self.busy:
            self.send_refused.emit("", "Stop the answer being written first.")
            return
        ids = self.store.messages.delete(message_id)
        self.open_conversation(self.conversation_id)
        if ids:
            self.messages_deleted.emit(ids)

    def undo_delete(self, ids: list) -> None:
        if self.busy:  # switching branches under a streaming answer would hide it
            self.send_refused.emit("", "Stop the answer being written first, then undo.")
            return
        self.store.messages.restore(ids)
        first = self.store.messages.get(ids[0])
        if first is not None:
            self.store.conversations.switch_branch(first.conversation_id, first.id)
            self.open_conversation(first.conversation_id)

    def start_edit(self, message_id: int) -> None:
        """Put a message back in the composer; sending it makes a new branch beside it."""
        message = self.store.messages.get(message_id)
        if message is None or message.role != "user" or self.busy:
            return
        self._editing = message
        self.edit_started.emit(message.content)

    def edit_last(self) -> bool:
        """Up arrow in an empty composer: edit the last message the user sent."""
        last = next((m for m in reversed(self._thread) if m.role == "user"), None)
        if last is None:
            return False
        self.start_edit(last.id)
        return True

    def cancel_edit(self) -> None:
        if getattr(self, "_editing", None) is not None:
            self._editing = None
            self.edit_cancelled.emit()

    def regenerate(self, answer_id: int) -> bool:
        answer = self.store.messages.get(answer_id)
        if answer is None or answer.parent_id is None:
            return False
        return self._start_turn(TurnRequest(self.conversation_id, effort=self._effort(),
                                            instructions=self.instructions, sampling=self.sampling,
                                            regenerate=answer.parent_id),
                                replace_after=answer.parent_id)

    def continue_answer(self, answer_id: int) -> bool:
        widget = self.message_widget(answer_id)
        answer = self.store.messages.get(answer_id)
        if answer is None or widget is None:
            return False
        request = TurnRequest(self.conversation_id, effort=answer.effort or self._effort(),
                              instructions=self.instructions, sampling=self.sampling,
                              continue_id=answer_id)
        return self._start_turn(request, continue_widget=widget)

    def rerun_exactly(self, answer_id: int) -> bool:
        """The same question, model settings, seed and date: a replay of the answer as a new
        branch; its footer then says whether it came out identical."""
        answer = self.store.messages.get(answer_id)
        if answer is None or answer.parent_id is None or "seed" not in answer.stats:
            return False
        s = answer.stats
        sampling = Sampling(temperature=s.get("temperature", 1.0), top_p=s.get("top_p", 1.0),
                            top_k=s.get("top_k", 0), min_p=s.get("min_p", 0.0), seed=s["seed"],
                            max_tokens=s.get("max_tokens"), grammar=s.get("grammar"))
        now = _dt.datetime.fromisoformat(s["prompt_date"]) if s.get("prompt_date") else None
        request = TurnRequest(answer.conversation_id, effort=answer.effort or "medium",
                              instructions=s.get("instructions"), sampling=sampling,
                              regenerate=answer.parent_id, now=now,
                              reuse_limit=s.get("cached_tokens"))
        started = self._start_turn(request, replace_after=answer.parent_id)
        if started:  # its finish signal is queued: set now, read then
            self._rerun_of = answer
        return started

    def _effort(self) -> str:
        return self.current_effort() if callable(self.current_effort) else "medium"

    def passage(self, answer_id: int, key: int) -> tuple[str, str] | None:
        """A citation's source label and text, from the plan saved with the answer."""
        answer = self.store.messages.get(answer_id)
        plan = (answer.stats if answer else {}).get("documents") or {}
        passage = next((p for p in plan.get("passages", []) if p["key"] == key), None)
        if passage is None:
            return None
        chunks = {c.id: c for c in self.store.documents.chunks(passage["document_id"])}
        text = "".join(chunks[i].text[chunks[i].overlap if n else 0:]
                       for n, i in enumerate(passage["chunk_ids"]) if i in chunks)
        return passage["label"], text
