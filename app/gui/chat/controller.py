"""The window's conductor: starts turns on the engine's thread and paints what comes back.

What a turn is made of is decided by the core (app/core/requests.py) from the store, every
time; this class only moves data between widgets, the GUI thread's Store and the model
session (app/gui/session.py). What a person does to one message lives in
app/gui/chat/actions.py.
"""

from __future__ import annotations

import threading
import time

from app.core import requests
from app.core.event_buffer import EventBuffer
from app.core.provenance import Provenance
from app.core.tools import registry as tool_registry
from app.core.turns import TurnRequest, TurnResult, run_turn
from app.gui.background import GuiCall
from app.gui.chat.actions import MessageActions
from app.gui.chat.approvals import ApprovalPrompts
from app.gui.chat.messages import AssistantMessage, UserMessage
from app.gui.chat.meter import ContextMeter
from app.gui.chat.tool_block import show_tool_event
from app.gui.chat.view import ChatView
from app.gui.qt import QObject, QTimer, QtWidgets, Signal
from app.gui.session import ModelSession
from common.errors import UserError
from inference.events import AnswerDelta, ReasoningDelta
from storage import Message, Store

REPAINT_MS = 16  # ≤ 60 repaints a second while tokens stream
PAGE = 30  # messages shown when a conversation opens; earlier ones on request


class ChatController(QObject):
    conversations_changed = Signal()
    conversation_opened = Signal(int)  # id, or 0 for none
    defaults_changed = Signal(object)  # requests.TurnDefaults of the open chat and model
    busy_changed = Signal(bool)  # an answer is streaming
    stats_changed = Signal(object)  # Provenance of the last answer
    context_changed = Signal(int, int)  # tokens used, context size
    speed_changed = Signal(float)  # tokens/s of the answer streaming now
    send_refused = Signal(str, str)  # text to give back to the composer, why
    messages_deleted = Signal(list)  # ids, for the Undo offer
    conversation_trashed = Signal(int)  # id, for the Undo offer
    edit_started = Signal(str)  # the text to edit, for the composer
    edit_cancelled = Signal()
    info_requested = Signal(int)  # answer id
    citation_requested = Signal(int, int)  # answer id, citation key
    turn_failed = Signal(object)  # an exception that stopped a turn before it began

    def __init__(self, store: Store, view: ChatView, session: ModelSession,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store, self.view, self.session = store, view, session
        self.conversation_id: int | None = None
        self.hide_reasoning = False
        self.effort_provider = lambda: None  # the composer's effort for the next turn
        self.thinking_provider = lambda: None  # the composer's think switch (None: no switch)
        self.pending_documents = lambda: ()  # ids of the composer's ready attachments
        self.attachments_provider = lambda: ()  # the composer's ready documents, None if busy
        self.tools = None  # app/core/tools/registry.ToolRegistry, set by the window
        self.approvals = ApprovalPrompts(self)  # tool calls waiting for the person
        self.meter = ContextMeter(self)  # what the next turn would take of the context
        self.thread: list[Message] = []  # the shown branch
        self.actions = MessageActions(self)
        self._buffer = EventBuffer()
        self._on_gui = GuiCall(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_MS)
        self._timer.timeout.connect(self._drain)
        self._cancel: threading.Event | None = None
        self._streaming_in: int | None = None  # the conversation the answer streams into
        self._stream_widget: AssistantMessage | None = None
        self._stream_text = {"reasoning": "", "answer": ""}
        self._branching = False
        self._turn = None  # the running turn's Future
        self._delete_after_turn: int | None = None
        self._shown_from = 0  # index in `thread` of the first message with a widget
        self._shut = False
        self._usage: list = []  # (monotonic time, tokens in the context) while a turn streams
        session.changed.connect(self._on_model_changed)

    # -- models --------------------------------------------------------------------------------

    @property
    def model(self):
        return self.session.model

    def defaults(self) -> requests.TurnDefaults:
        model = self.session.model or self.session.loading_path
        return requests.defaults_for(self.store, self.conversation_id,
                                     getattr(model, "path", model), cached_only=True)

    def refresh_defaults(self) -> None:
        """The chat's preset changed: the bar, the composer's effort and the meter follow."""
        self.defaults_changed.emit(self.defaults())
        self.meter.measure()

    def _on_model_changed(self, info) -> None:
        self.defaults_changed.emit(self.defaults())
        if info is not None:
            self.context_changed.emit(0, info.n_ctx)
            self.meter.measure()

    # -- conversations -------------------------------------------------------------------------

    def new_conversation(self) -> int:
        conversation = self.store.conversations.create()
        self.conversations_changed.emit()
        self.open_conversation(conversation.id)
        return conversation.id

    def open_conversation(self, conversation_id: int | None) -> None:
        """Show the conversation's current branch: its last PAGE messages, earlier ones on
        request (a 500-message chat opens as fast as a short one)."""
        self.conversation_id = conversation_id
        self.cancel_edit()
        self.view.clear()
        self._stream_widget = None
        self.thread = self.store.messages.thread(conversation_id) if conversation_id else []
        self._shown_from = max(0, len(self.thread) - PAGE)
        for m in self.thread[self._shown_from:]:
            widget = self._widget_for(m)
            if widget is not None:
                self.view.add(widget)
        self.view.set_earlier(self._shown_from, self.show_earlier)
        self.defaults_changed.emit(self.defaults())
        self.conversation_opened.emit(conversation_id or 0)
        self.meter.measure()

    def show_earlier(self) -> None:
        start = max(0, self._shown_from - PAGE)
        widgets = [w for m in self.thread[start:self._shown_from] if (w := self._widget_for(m))]
        self.view.prepend(widgets)
        self._shown_from = start
        self.view.set_earlier(start, self.show_earlier)

    def _widget_for(self, m: Message) -> QtWidgets.QWidget | None:
        if m.role == "user":
            widget = UserMessage(m.content, message_id=m.id,
                                 documents=[d.name for d in self.store.documents.for_message(m.id)])
        elif m.role == "assistant":
            if m.status == "streaming" and m.conversation_id == self._streaming_in:
                self._stream_widget = self._new_stream_widget(add=False)
                self._stream_widget.set_message_id(m.id)
                for call in self.store.tool_calls.for_message(m.id):
                    self._stream_widget.tools.add_saved(call)
                self.approvals.show_pending(self._stream_widget)  # left while it waited
                return self._stream_widget
            made = Provenance.from_json(m.stats)
            widget = AssistantMessage.from_saved(m.content, m.reasoning, m.status, made, m.error,
                                                 made.effort if m.stats else m.effort,
                                                 message_id=m.id, hide_reasoning=self.hide_reasoning)
            for call in self.store.tool_calls.for_message(m.id):
                widget.tools.add_saved(call)
        else:
            return None
        siblings = self.store.messages.siblings(m.id)
        if len(siblings) > 1:
            widget.actions.set_branch([s.id for s in siblings].index(m.id) + 1, len(siblings))
        widget.action_requested.connect(self.actions.perform)
        return widget

    def message_widget(self, message_id: int) -> QtWidgets.QWidget | None:
        return next((w for w in self.view.messages()
                     if getattr(w, "message_id", None) == message_id), None)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self.store.conversations.rename(conversation_id, title)
            self.conversations_changed.emit()

    def delete_conversation(self, conversation_id: int) -> None:
        """To the trash (undo is offered); purged after TRASH_DAYS."""
        if conversation_id == self._streaming_in:
            # The engine's last save must land first: stop, and trash it when the turn ends.
            self._delete_after_turn = conversation_id
            self.stop()
            return
        self.store.conversations.trash(conversation_id)
        if conversation_id == self.conversation_id:
            self.open_conversation(None)
        self.conversations_changed.emit()
        self.conversation_trashed.emit(conversation_id)

    def restore_conversation(self, conversation_id: int) -> None:
        self.store.conversations.restore(conversation_id)
        self.conversations_changed.emit()
        self.open_conversation(conversation_id)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.store.conversations.set_pinned(conversation_id, pinned)
        self.conversations_changed.emit()

    def show_message(self, conversation_id: int, message_id: int) -> None:
        """Open a conversation at a message (a search hit), switching to its branch if needed."""
        if message_id not in {m.id for m in self.store.messages.thread(conversation_id)}:
            self.store.conversations.switch_branch(conversation_id, message_id)
        self.open_conversation(conversation_id)
        index = next((i for i, m in enumerate(self.thread) if m.id == message_id), None)
        while index is not None and index < self._shown_from:
            self.show_earlier()
        widget = self.message_widget(message_id)
        if widget is not None:
            self.view.reveal(widget)

    # -- turns ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    @property
    def model_path(self) -> str | None:
        return self.session.model.path if self.session.model else None

    def send(self, text: str, effort: str | None = None) -> bool:
        if not self.can_start(text):  # before the attachments leave the tray
            return False
        attachments = self.attachments_provider()
        if attachments is None:
            self.send_refused.emit(text, "An attachment is still being read; send again in a moment.")
            return False
        editing = self.actions.editing
        try:
            if editing is None:
                request = requests.request_for(
                    self.store, self.conversation_id or self._create_conversation(), text,
                    model_path=self.model_path, effort=effort, attachments=attachments,
                    thinking=self.thinking_provider())
            else:
                request = requests.edit_request(self.store, editing.id, text,
                                                model_path=self.model_path, effort=effort,
                                                attachments=attachments,
                                                thinking=self.thinking_provider())
        except UserError as exc:
            self.send_refused.emit(text, str(exc))
            return False
        if editing is None:
            return self.start_turn(request, new_text=text, give_back=text)
        started = self.start_turn(request, replace_after=editing.parent_id, branching=True,
                                  new_text=text, give_back=text)
        if started:
            self.actions.end_edit()
        return started

    def _create_conversation(self) -> int:
        self.new_conversation()
        return self.conversation_id

    def can_start(self, give_back: str = "") -> bool:
        if self.busy:
            self.send_refused.emit(give_back, "An answer is still being written. Stop it first.")
            return False
        if self.session.model is None:
            why = ("The model is still loading." if self.session.loading_path
                   else "Choose a model first: gpt-oss-20b, the starter, or one already on disk.")
            self.send_refused.emit(give_back, why)
            return False
        return True

    def start_turn(self, request: TurnRequest, *, replace_after: int | None = None,
                   branching: bool = False, continue_widget: AssistantMessage | None = None,
                   new_text: str | None = None, give_back: str = "") -> bool:
        """Show the turn starting and run it on the engine's thread."""
        if not self.can_start(give_back):
            return False
        if self.conversation_id != request.conversation_id:
            self.open_conversation(request.conversation_id)
        branching = branching or replace_after is not None
        if branching:
            self._truncate_view_after(replace_after)
        self._streaming_in = self.conversation_id
        self._branching = branching
        if continue_widget is not None:
            self._stream_text = {"reasoning": continue_widget.reasoning.text,
                                 "answer": continue_widget.answer_text}
            self._stream_widget = continue_widget
            continue_widget.actions.hide()
            continue_widget.footer.hide()
        else:
            if new_text is not None:
                user = UserMessage(new_text, documents=[self.store.documents.get(d).name
                                                        for d in request.attachments])
                user.action_requested.connect(self.actions.perform)
                self.view.add(user)
            self._stream_text = {"reasoning": "", "answer": ""}
            self._stream_widget = self._new_stream_widget()
        self._cancel = cancel = threading.Event()
        on_gui, buffer, tools = self._on_gui, self._buffer, self.tools
        keys = tool_registry.chat_keys(self.store, request.conversation_id) if tools else []
        self._usage = usage = []

        def turn(state) -> TurnResult:  # on the engine's thread
            engine = state.require_engine()
            toolbox = tools.toolbox(keys, request.conversation_id) if tools else None
            approvals = tool_registry.approvals_for(state.store, request.conversation_id,
                                                    self.approvals.asker(cancel, toolbox))

            def on_event(event) -> None:  # the context used so far, for the meter and tokens/s
                buffer.push(event)
                usage.append((time.monotonic(), engine.cached_tokens))
            return run_turn(state.store, engine, request, cancel=cancel,
                            on_event=on_event,
                            on_saved=lambda u, a: on_gui(lambda: self._on_turn_saved(u, a)),
                            on_plan=lambda plan: on_gui(lambda: self._on_plan(plan)),
                            model_sha256=state.model_sha256, toolbox=toolbox, approvals=approvals)
        self._turn = self.session.run(turn, self._on_turn_finished,
                                      lambda exc: self._on_turn_refused(exc, give_back))
        self._timer.start()
        self.busy_changed.emit(True)
        return True

    def _truncate_view_after(self, message_id: int | None) -> None:
        """Drop the widgets after `message_id` (all of them for None): a new branch starts there."""
        widgets = self.view.messages()
        keep = next((i + 1 for i, w in enumerate(widgets)
                     if message_id is not None and getattr(w, "message_id", None) == message_id), 0)
        self.view.remove_from(keep)

    def stop(self) -> None:
        """Stop the answer within a token; what came so far stays, marked stopped."""
        if self._cancel is not None:
            self._cancel.set()

    def _new_stream_widget(self, add: bool = True) -> AssistantMessage:
        widget = AssistantMessage(hide_reasoning=self.hide_reasoning)
        widget.action_requested.connect(self.actions.perform)
        if self._stream_text["reasoning"]:
            widget.append_reasoning(self._stream_text["reasoning"])
        if self._stream_text["answer"]:
            widget.append_answer(self._stream_text["answer"])
        if add:
            self.view.add(widget)
        return widget

    def _on_plan(self, plan: dict) -> None:
        if self._stream_widget is not None and self.conversation_id == self._streaming_in:
            self._stream_widget.set_documents(plan)

    def _on_turn_saved(self, user_id: int, answer_id: int) -> None:
        if self.conversation_id != self._streaming_in:
            return
        if self._stream_widget is not None:
            self._stream_widget.set_message_id(answer_id)
        users = [w for w in self.view.messages() if isinstance(w, UserMessage)]
        if users and users[-1].message_id is None:
            users[-1].set_message_id(user_id)
        self.conversations_changed.emit()  # a new chat is listed, titled, at once

    def _drain(self) -> None:
        for event in self._buffer.drain():
            if isinstance(event, ReasoningDelta):
                self._stream_text["reasoning"] += event.text
                if self._stream_widget is not None:
                    self._stream_widget.append_reasoning(event.text)
            elif isinstance(event, AnswerDelta):
                self._stream_text["answer"] += event.text
                if self._stream_widget is not None:
                    self._stream_widget.append_answer(event.text)
            elif self._stream_widget is not None:
                show_tool_event(self._stream_widget.tools, event)
        self.meter.show_usage(self._usage)

    def _end_turn_state(self) -> tuple[bool, bool]:
        """Back to idle before anything that could fail: Send is never left disabled."""
        self._timer.stop()
        shown_here = self.conversation_id == self._streaming_in
        branching = self._branching
        self._cancel, self._streaming_in, self._branching, self._turn = None, None, False, None
        self.busy_changed.emit(False)
        return shown_here, branching

    def _on_turn_refused(self, exc: BaseException, give_back: str) -> None:
        """The turn could not start (its chat was deleted meanwhile, the model was unloaded,
        a bug): no rows were written, so the view shows the chat as stored, and the text
        goes back to the composer."""
        self._buffer.drain()
        shown_here, _ = self._end_turn_state()
        self._stream_widget = None
        if shown_here:
            self.open_conversation(self.conversation_id)
        if isinstance(exc, UserError):
            self.send_refused.emit(give_back, str(exc))
        else:
            self.send_refused.emit(give_back, "Something went wrong before the answer began.")
            self.turn_failed.emit(exc)

    def _on_turn_finished(self, result: TurnResult) -> None:
        self._drain()
        widget = self._stream_widget
        shown_here, branching = self._end_turn_state()
        self._stream_widget = None
        if widget is not None and shown_here:
            widget.set_message_id(result.message_id)
            if result.provenance.documents or result.provenance.citations:
                widget.set_documents(result.provenance.documents or {}, result.provenance.citations)
            widget.finish(result.status, result.provenance, result.error, result.provenance.effort)
        self.stats_changed.emit(result.provenance)
        if self._delete_after_turn is not None:
            doomed, self._delete_after_turn = self._delete_after_turn, None
            self.delete_conversation(doomed)
        elif shown_here:
            self.thread = self.store.messages.thread(self.conversation_id)
            if branching:  # the "2/3" switchers changed
                self.open_conversation(self.conversation_id)
            else:
                self.meter.measure()
        self.conversations_changed.emit()  # the title and the order may have changed

    def recover(self) -> None:
        """After an error escaped a slot: if no turn is really running, be idle again."""
        if self.busy and (self._turn is None or self._turn.done()):
            self._end_turn_state()

    def measure_context(self) -> None:
        """Measure again now (an attachment added or removed, the thinking switch changed)."""
        if not self.busy:
            self.meter.measure()

    def cancel_edit(self) -> None:
        self.actions.end_edit()

    def shutdown(self) -> None:
        self._shut = True
        self.stop()
        self._timer.stop()
