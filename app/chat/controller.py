"""The window's conductor: sends turns to the inference thread and paints what comes back.

Behaviour the command line also needs lives in app.turns, not here; this class only moves
data between widgets, the GUI thread's Store and the inference thread.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from inference.events import AnswerDelta, ReasoningDelta
from inference.runtime import LoadOptions
from inference.sampling import GPT_OSS_DEFAULT, Sampling
from storage import Store
from storage.model_files import sha256_file

from .. import model_library, preferences
from ..qt import QObject, QTimer, Signal
from ..turns import TurnRequest, TurnResult
from ..workers import EventBuffer, InferenceThread, Job, ModelInfo
from .messages import AssistantMessage, UserMessage
from .view import ChatView

REPAINT_MS = 16  # ≤ 60 repaints a second while tokens stream


class ChatController(QObject):
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

    # -- models --------------------------------------------------------------------------------

    def open_model(self, path: str, options: LoadOptions | None = None, *,
                   allow_swap: bool = False) -> None:
        """Load on the inference thread, with the model's own saved settings unless `options`."""
        if self.busy:
            self.stop()
        prefs = model_library.prefs(self.store, path)
        self.sampling = prefs.sampling()
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
        job.start(lambda result: (self._jobs.discard(job), on_done(result)),
                  lambda _msg: self._jobs.discard(job))

    # -- conversations -------------------------------------------------------------------------

    def new_conversation(self) -> int:
        conversation = self.store.conversations.create()
        self.conversations_changed.emit()
        self.open_conversation(conversation.id)
        return conversation.id

    def open_conversation(self, conversation_id: int | None) -> None:
        self.conversation_id = conversation_id
        self.view.clear()
        self._stream_widget = None
        if conversation_id:
            for m in self.store.messages.list_for(conversation_id):
                if m.role == "user":
                    self.view.add(UserMessage(m.content))
                elif m.role == "assistant":
                    if m.status == "streaming" and conversation_id == self._streaming_in:
                        self._stream_widget = self._new_stream_widget()
                        continue
                    self.view.add(AssistantMessage.from_saved(
                        m.content, m.reasoning, m.status, m.stats, m.error, m.effort,
                        hide_reasoning=self.hide_reasoning))
        self.conversation_opened.emit(conversation_id or 0)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self.store.conversations.rename(conversation_id, title)
            self.conversations_changed.emit()

    def delete_conversation(self, conversation_id: int) -> None:
        if conversation_id == self._streaming_in:
            # The worker's last save must land first: stop, and delete when the turn ends.
            self._delete_after_turn = conversation_id
            self.stop()
            return
        self.store.conversations.delete(conversation_id)
        if conversation_id == self.conversation_id:
            self.open_conversation(None)
        self.conversations_changed.emit()

    # -- turns ---------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def send(self, text: str, effort: str) -> bool:
        if self.busy:
            self.send_refused.emit(text, "An answer is still being written. Stop it first.")
            return False
        if self.model is None:
            why = ("The model is still loading." if self.loading_path
                   else "Choose a model first: gpt-oss-20b, the starter, or one already on disk.")
            self.send_refused.emit(text, why)
            return False
        if self.conversation_id is None:
            self.new_conversation()
        self.view.add(UserMessage(text))
        self._streaming_in = self.conversation_id
        self._stream_text = {"reasoning": "", "answer": ""}
        self._stream_widget = self._new_stream_widget()
        self._cancel = threading.Event()
        request = TurnRequest(self.conversation_id, text, effort, self.instructions, self.sampling)
        self._inference.run_turn(request, self._cancel)
        self._timer.start()
        self.busy_changed.emit(True)
        return True

    def stop(self) -> None:
        """Stop the answer within a token; what came so far stays, marked stopped."""
        if self._cancel is not None:
            self._cancel.set()

    def _new_stream_widget(self) -> AssistantMessage:
        widget = AssistantMessage(hide_reasoning=self.hide_reasoning)
        if self._stream_text["reasoning"]:
            widget.append_reasoning(self._stream_text["reasoning"])
        if self._stream_text["answer"]:
            widget.append_answer(self._stream_text["answer"])
        self.view.add(widget)
        return widget

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
        if self._stream_widget is not None and self.conversation_id == self._streaming_in:
            self._stream_widget.finish(result.status, result.stats, result.error,
                                       result.stats.get("effort"))
        self._cancel = None
        self._streaming_in = None
        self._stream_widget = None
        self.busy_changed.emit(False)
        self.stats_changed.emit(result.stats)
        if self._delete_after_turn is not None:
            doomed, self._delete_after_turn = self._delete_after_turn, None
            self.delete_conversation(doomed)
        self.conversations_changed.emit()  # the title and the order may have changed

    def _on_context_used(self, used: int) -> None:
        if self.model is not None:
            self.context_changed.emit(used, self.model.n_ctx)

    def shutdown(self) -> None:
        self.stop()
        self._timer.stop()
        self._inference.stop()
