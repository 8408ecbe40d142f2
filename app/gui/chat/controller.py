"""The window's conductor: sends turns to the inference thread and paints what comes back.

Behaviour the command line also needs lives in app.turns, not here; this class only moves
data between widgets, the GUI thread's Store and the inference thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

from app.core import model_library, preferences, prompt_library
from app.core.turns import TurnRequest, TurnResult
from app.gui.chat.actions import MessageActions
from app.gui.chat.messages import AssistantMessage, UserMessage
from app.gui.chat.view import ChatView
from app.gui.qt import QObject, QTimer, QtWidgets, Signal
from app.gui.workers import EventBuffer, InferenceThread, Job, ModelInfo
from inference.events import AnswerDelta, ReasoningDelta
from inference.runtime import LoadOptions
from inference.sampling import GPT_OSS_DEFAULT, Sampling
from storage import Message, Store
from storage.model_files import sha256_file

REPAINT_MS = 16  # ≤ 60 repaints a second while tokens stream
PAGE = 30  # messages shown when a conversation opens; earlier ones on request


class ChatController(MessageActions, QObject):
    conversations_changed = Signal()
    conversation_opened = Signal(int)  # id, or 0 for none
    model_changed = Signal(object)  # ModelInfo, or None while loading / after a failure
    model_loading = Signal(str)  # path
    model_failed = Signal(str)  # message for the user
    model_refused = Signal(str, str)  # path, why it would not fit in memory ("Load anyway" overrides)
    model_progress = Signal(str, float)  # path, 0..1 while weights load
    prefs_applied = Signal(object)  # ModelPrefs of the model being loaded (effort for the composer)
    busy_changed = Signal(bool)  # an answer is streaming
    stats_changed = Signal(dict)  # stats of the last answer
    context_changed = Signal(int, int)  # tokens used, context size
    send_refused = Signal(str, str)  # text to give back to the composer, why
    messages_deleted = Signal(list)  # ids, for the Undo offer
    conversation_trashed = Signal(int)  # id, for the Undo offer
    edit_started = Signal(str)  # the text to edit, for the composer
    edit_cancelled = Signal()
    info_requested = Signal(int)  # answer id
    preset_changed = Signal(object)  # the conversation's preset (storage Prompt) or None
    citation_requested = Signal(int, int)  # answer id, citation key

    def __init__(self, store: Store, view: ChatView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.view = view
        self.model: ModelInfo | None = None
        self.conversation_id: int | None = None
        self._buffer = EventBuffer()
        self._inference = InferenceThread(self._buffer, self)
        worker = self._inference.worker
        worker.model_loaded.connect(self._on_model_loaded)
        worker.model_failed.connect(self._on_model_failed)
        worker.model_refused.connect(self._on_model_refused)
        worker.model_unloaded.connect(self._on_model_unloaded)
        worker.load_progress.connect(self.model_progress)
        worker.turn_finished.connect(self._on_turn_finished)
        worker.context_used.connect(self._on_context_used)
        self._timer = QTimer(self)
        self._timer.setInterval(REPAINT_MS)
        self._timer.timeout.connect(self._drain)
        self._cancel: threading.Event | None = None
        self._streaming_in: int | None = None  # conversation the answer streams into
        self._stream_widget: AssistantMessage | None = None
        self._stream_text = {"reasoning": "", "answer": ""}
        self._jobs: set[Job] = set()
        self.loading_path: str | None = None
        self.sampling: Sampling = GPT_OSS_DEFAULT  # the settings dialog (a later issue) sets it
        self.instructions: str | None = None
        self.hide_reasoning = preferences.load(store).hide_reasoning
        self._delete_after_turn: int | None = None
        self._thread: list[Message] = []  # the shown branch
        self._shown_from = 0  # index in _thread of the first message with a widget
        self._editing: Message | None = None
        self._rerun_of: Message | None = None
        self._branching = False
        self._shut = False
        self.current_effort = None  # set by the window: the composer's effort, for regenerate
        self.attachments_for_send = None  # set by the window: the composer's ready documents
        self.base_sampling: Sampling | None = None  # the model's; a preset may change temperature
        worker.plan_ready.connect(self._on_plan)
        worker.turn_saved.connect(self._on_turn_saved)

    # -- models --------------------------------------------------------------------------------

    def open_model(self, path: str, options: LoadOptions | None = None, *,
                   allow_swap: bool = False) -> None:
        """Load on the inference thread, with the model's own saved settings unless `options`."""
        if self.busy:
            self.stop()
        prefs = model_library.prefs(self.store, path)
        self.sampling = self.base_sampling = prefs.sampling()
        self.prefs_applied.emit(prefs)
        self.model = None
        self.loading_path = path
        self.model_loading.emit(path)
        if options is None:
            options = model_library.load_options(self.store, path, allow_swap=allow_swap)
        self._inference.load_model(path, options)

    def unload_model(self) -> None:
        if self.busy:
            self.stop()
        self.model = None  # at once: a send now must not reach a worker without an engine
        self._inference.unload_model()

    def cancel_load(self) -> None:
        self._inference.cancel_load()

    def restore_default_model(self) -> bool:
        """Load the default model at start-up; False when there is none to load."""
        path = model_library.default_model(self.store)
        if path is not None and path.is_file():
            self.open_model(str(path))
            return True
        return False

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model, self.loading_path = info, None
        if model_library.default_model(self.store) is None:  # the first model becomes the default
            model_library.set_default(self.store, info.path)
        self.model_changed.emit(info)
        self.context_changed.emit(0, info.n_ctx)
        if self.store.model_files.cached_sha256(info.path) is None:
            self._hash_in_background(info.path)

    def _on_model_failed(self, path: str, message: str) -> None:
        self.model, self.loading_path = None, None
        self.model_changed.emit(None)
        self.model_failed.emit(message)

    def _on_model_refused(self, path: str, message: str) -> None:
        self.model, self.loading_path = None, None
        self.model_changed.emit(None)
        self.model_refused.emit(path, message)

    def _on_model_unloaded(self) -> None:
        self.model, self.loading_path = None, None
        self.model_changed.emit(None)

    def _hash_in_background(self, path: str) -> None:
        """Answers record the model file's sha256; 12 GB takes a while, so off the GUI thread."""
        before = os.stat(path)  # the hash belongs to the file as it was when hashing began

        def done(sha: object) -> None:
            self.store.model_files.remember_sha256(path, str(sha), stat_result=before)
            self._inference.set_model_sha256(path, str(sha))
        self._start_job(lambda: sha256_file(path), done)

    def _start_job(self, fn, on_done) -> None:
        job = Job(fn)
        job.setAutoDelete(False)
        self._jobs.add(job)
        # A job may end after the window closed (a 12 GB hash): then its result is dropped,
        # since the database it would write to is closed.
        job.start(lambda result: (self._jobs.discard(job), self._shut or on_done(result)),
                  lambda _msg: self._jobs.discard(job))

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
        self._thread = self.store.messages.thread(conversation_id) if conversation_id else []
        self._shown_from = max(0, len(self._thread) - PAGE)
        for m in self._thread[self._shown_from:]:
            widget = self._widget_for(m)
            if widget is not None:
                self.view.add(widget)
        self.view.set_earlier(self._shown_from, self.show_earlier)
        self.apply_preset()
        self.conversation_opened.emit(conversation_id or 0)
        self._measure_context()

    def apply_preset(self) -> None:
        """Take the open conversation's preset: its instructions for every turn, its effort
        and temperature as the defaults."""
        preset = None
        self.instructions = None
        if self.conversation_id:
            try:
                self.instructions, preset = prompt_library.instructions_for(
                    self.store, self.conversation_id)
            except prompt_library.PromptVariableError:
                preset = None
        # From the model's own settings each time: a preset's temperature stays in its chat.
        base = self.base_sampling or self.sampling
        self.sampling = (replace(base, temperature=preset.temperature)
                         if preset is not None and preset.temperature is not None else base)
        self.preset_changed.emit(preset)

    def show_earlier(self) -> None:
        start = max(0, self._shown_from - PAGE)
        widgets = [w for m in self._thread[start:self._shown_from] if (w := self._widget_for(m))]
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
                return self._stream_widget
            widget = AssistantMessage.from_saved(m.content, m.reasoning, m.status, m.stats,
                                                 m.error, m.effort, message_id=m.id,
                                                 hide_reasoning=self.hide_reasoning)
        else:
            return None
        siblings = self.store.messages.siblings(m.id)
        if len(siblings) > 1:
            widget.actions.set_branch([s.id for s in siblings].index(m.id) + 1, len(siblings))
        widget.action_requested.connect(self._on_action)
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
            # The worker's last save must land first: stop, and trash it when the turn ends.
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
        thread_ids = {m.id for m in self.store.messages.thread(conversation_id)}
        if message_id not in thread_ids:
            self.store.conversations.switch_branch(conversation_id, message_id)
        self.open_conversation(conversation_id)
        index = next((i for i, m in enumerate(self._thread) if m.id == message_id), None)
        while index is not None and index < self._shown_from:
            self.show_earlier()
        widget = self.message_widget(message_id)
        if widget is not None:
            self.view.reveal(widget)

    # -- turns ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def send(self, text: str, effort: str) -> bool:
        if not self._can_start(text):  # before the attachments leave the tray
            return False
        editing = self._editing
        attachments = self.attachments_for_send() if callable(self.attachments_for_send) else ()
        if attachments is None:
            self.send_refused.emit(text, "An attachment is still being read; send again in a moment.")
            return False
        if editing is not None:  # the edited question keeps the documents it had
            kept = tuple(d.id for d in self.store.documents.for_message(editing.id))
            attachments = kept + tuple(a for a in attachments if a not in kept)
        request = TurnRequest(self.conversation_id or 0, text, effort, self.instructions,
                              self.sampling, attachments=attachments)
        if editing is None:
            return self._start_turn(request, new_text=text, give_back=text)
        request.parent_id = editing.parent_id
        started = self._start_turn(request, replace_after=editing.parent_id, branching=True,
                                   new_text=text, give_back=text)
        if started:
            self._editing = None
            self.edit_cancelled.emit()
        return started

    def _can_start(self, give_back: str = "") -> bool:
        if self.busy:
            self.send_refused.emit(give_back, "An answer is still being written. Stop it first.")
            return False
        if self.model is None:
            why = ("The model is still loading." if self.loading_path
                   else "Choose a model first: gpt-oss-20b, the starter, or one already on disk.")
            self.send_refused.emit(give_back, why)
            return False
        return True

    def _start_turn(self, request: TurnRequest, *, replace_after: int | None = None,
                    branching: bool = False, continue_widget: AssistantMessage | None = None,
                    new_text: str | None = None, give_back: str = "") -> bool:
        if not self._can_start(give_back):
            return False
        if self.conversation_id is None:
            self.new_conversation()
            request.conversation_id = self.conversation_id
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
                user.action_requested.connect(self._on_action)
                self.view.add(user)
            self._stream_text = {"reasoning": "", "answer": ""}
            self._stream_widget = self._new_stream_widget()
        self._cancel = threading.Event()
        self._inference.run_turn(request, self._cancel)
        self._timer.start()
        self.busy_changed.emit(True)
        return True

    def _truncate_view_after(self, message_id: int | None) -> None:
        """Drop the widgets after `message_id` (all of them for None): a new branch starts there."""
        widgets = self.view.messages()
        keep = 0
        if message_id is not None:
            for i, widget in enumerate(widgets):
                if getattr(widget, "message_id", None) == message_id:
                    keep = i + 1
                    break
            else:  # above the shown page: show the branch point's page afresh
                keep = 0
        self.view.remove_from(keep)

    def stop(self) -> None:
        """Stop the answer within a token; what came so far stays, marked stopped."""
        if self._cancel is not None:
            self._cancel.set()

    def _new_stream_widget(self, add: bool = True) -> AssistantMessage:
        widget = AssistantMessage(hide_reasoning=self.hide_reasoning)
        widget.action_requested.connect(self._on_action)
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

    def _on_turn_finished(self, result: TurnResult) -> None:
        self._timer.stop()
        self._drain()
        rerun_of, self._rerun_of = getattr(self, "_rerun_of", None), None
        stats = result.stats
        if rerun_of is not None:
            same = (result.answer, result.reasoning) == (rerun_of.content, rerun_of.reasoning)
            stats = {**stats, "rerun_of": rerun_of.id, "rerun_identical": same}
            self.store.messages.update(result.message_id, stats=stats)
        shown_here = self.conversation_id == self._streaming_in
        if self._stream_widget is not None and shown_here:
            self._stream_widget.set_message_id(result.message_id)
            if stats.get("documents"):
                self._stream_widget.set_documents(stats["documents"])
            self._stream_widget.finish(result.status, stats, result.error, stats.get("effort"))
        branching = self._branching
        self._cancel = None
        self._streaming_in = None
        self._stream_widget = None
        self.busy_changed.emit(False)
        self.stats_changed.emit(stats)
        if self._delete_after_turn is not None:
            doomed, self._delete_after_turn = self._delete_after_turn, None
            self.delete_conversation(doomed)
        elif shown_here:
            self._thread = self.store.messages.thread(self.conversation_id)
            if branching:  # the "2/3" switchers changed
                self.open_conversation(self.conversation_id)
            else:
                self._measure_context()
        self.conversations_changed.emit()  # the title and the order may have changed

    def _measure_context(self) -> None:
        if self.model is not None and self.conversation_id:
            self._inference.measure_context(self.conversation_id, self._effort(), self.instructions)

    def _on_context_used(self, conversation_id: int, used: int) -> None:
        if self.model is not None and conversation_id == self.conversation_id:
            self.context_changed.emit(used, self.model.n_ctx)

    def shutdown(self) -> None:
        self._shut = True
        self.stop()
        self._timer.stop()
        self._inference.stop()
