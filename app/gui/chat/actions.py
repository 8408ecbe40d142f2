"""What a person does to one message: copy, regenerate, edit, continue, delete and undo,
switch branch, re-run exactly, open a citation.

An object of its own beside the chat controller, using only its public side (the store, the
open conversation, `start_turn`, `open_conversation`, its signals). The requests themselves
come from the core (app/core/requests.py), as for `hearth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core import requests
from common.errors import UserError
from storage import Message

if TYPE_CHECKING:
    from app.gui.chat.controller import ChatController


class MessageActions:
    def __init__(self, controller: ChatController) -> None:
        self.chat = controller
        self.editing: Message | None = None  # the message being edited in the composer

    @property
    def store(self):
        return self.chat.store

    def perform(self, action: str, message_id: int) -> None:
        """A message widget's action button (or citation link) was clicked."""
        if action == "copy":
            from app.gui import clipboard

            message = self.store.messages.get(message_id)
            widget = self.chat.message_widget(message_id)
            clipboard.copy(message.content if message else "", widget,
                           widget.actions.buttons.get("copy") if widget is not None else None)
        elif action == "regenerate":
            self.regenerate(message_id)
        elif action == "continue":
            self.continue_answer(message_id)
        elif action == "delete":
            self.delete_message(message_id)
        elif action == "edit":
            self.start_edit(message_id)
        elif action == "info":
            self.chat.info_requested.emit(message_id)
        elif action in ("branch-1", "branch+1"):
            self.switch_branch(message_id, -1 if action == "branch-1" else 1)
        elif action.startswith("cite:"):
            self.chat.citation_requested.emit(message_id, int(action[5:]))

    def switch_branch(self, message_id: int, step: int) -> None:
        ids = [m.id for m in self.store.messages.siblings(message_id)]
        if message_id not in ids or self.chat.busy:
            return
        target = ids[max(0, min(len(ids) - 1, ids.index(message_id) + step))]
        self.store.conversations.switch_branch(self.chat.conversation_id, target)
        self.chat.open_conversation(self.chat.conversation_id)

    def delete_message(self, message_id: int) -> None:
        if self.chat.busy:
            self.chat.send_refused.emit("", "Stop the answer being written first.")
            return
        ids = self.store.messages.delete(message_id)
        self.chat.open_conversation(self.chat.conversation_id)
        if ids:
            self.chat.messages_deleted.emit(ids)

    def undo_delete(self, ids: list) -> None:
        if self.chat.busy:  # switching branches under a streaming answer would hide it
            self.chat.send_refused.emit("", "Stop the answer being written first, then undo.")
            return
        self.store.messages.restore(ids)
        first = self.store.messages.get(ids[0])
        if first is not None:
            self.store.conversations.switch_branch(first.conversation_id, first.id)
            self.chat.open_conversation(first.conversation_id)

    def start_edit(self, message_id: int) -> None:
        """Put a message back in the composer; sending it makes a new branch beside it."""
        message = self.store.messages.get(message_id)
        if message is None or message.role != "user" or self.chat.busy:
            return
        self.editing = message
        self.chat.edit_started.emit(message.content)

    def edit_last(self) -> bool:
        """Up arrow in an empty composer: edit the last message the user sent."""
        last = next((m for m in reversed(self.chat.thread) if m.role == "user"), None)
        if last is None:
            return False
        self.start_edit(last.id)
        return True

    def end_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.chat.edit_cancelled.emit()

    def regenerate(self, answer_id: int) -> bool:
        return self._start(lambda: requests.regenerate_request(
            self.store, answer_id, model_path=self.chat.model_path,
            effort=self.chat.effort_provider(), thinking=self.chat.thinking_provider()),
            replace_after=self._question_of(answer_id))

    def continue_answer(self, answer_id: int) -> bool:
        widget = self.chat.message_widget(answer_id)
        if widget is None:
            return False
        return self._start(lambda: requests.continue_request(
            self.store, answer_id, model_path=self.chat.model_path), continue_widget=widget)

    def rerun_exactly(self, answer_id: int) -> bool:
        """The same question, model settings, seed and date: a replay of the answer as a new
        branch; its footer then says whether it came out identical."""
        return self._start(lambda: requests.replay_request(self.store, answer_id),
                           replace_after=self._question_of(answer_id))

    def _question_of(self, answer_id: int) -> int | None:
        answer = self.store.messages.get(answer_id)
        return answer.parent_id if answer is not None else None

    def _start(self, build, **how) -> bool:
        if not self.chat.can_start():
            return False
        try:
            request = build()
        except UserError as exc:
            self.chat.send_refused.emit("", str(exc))
            return False
        return self.chat.start_turn(request, **how)
