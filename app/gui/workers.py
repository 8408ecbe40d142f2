"""Thread bridges: the one inference thread that owns the model, and small background jobs.

The GUI thread never loads a model, tokenizes, generates or hashes. It asks through queued
signals and hears back through queued signals; streamed events go through `EventBuffer`,
which the GUI drains on a timer (≤ 60 times a second) instead of one signal per token.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from app.core.turns import TurnRequest, TurnResult, history_for, run_turn
from app.gui.qt import QObject, QtCore, QThread, Signal, Slot
from inference.events import AnswerDelta, Event, ReasoningDelta
from inference.runtime import (
    Engine,
    LoadCancelled,
    LoadOptions,
    ModelLoadError,
    ModelTooLargeError,
)
from storage import Store

log = logging.getLogger(__name__)


class EventBuffer:
    """Thread-safe hand-over of stream events; adjacent deltas of one kind are merged."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def push(self, event: Event) -> None:
        with self._lock:
            last = self._events[-1] if self._events else None
            if isinstance(event, (AnswerDelta, ReasoningDelta)) and type(last) is type(event):
                self._events[-1] = type(event)(last.text + event.text)
            else:
                self._events.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events


@dataclass(frozen=True)
class ModelInfo:
    path: str
    name: str
    n_ctx: int
    harmony: bool


class InferenceWorker(QObject):
    """Lives on the inference thread. Owns the Engine and that thread's Store connection."""

    model_loaded = Signal(object)  # ModelInfo
    model_failed = Signal(str, str)  # path, message for the user
    model_refused = Signal(str, str)  # path, why it would not fit (LoadOptions.allow_swap overrides)
    model_unloaded = Signal()
    load_progress = Signal(str, float)  # path, 0..1
    turn_saved = Signal(int, int)  # user message id, assistant message id
    turn_finished = Signal(object)  # TurnResult
    context_used = Signal(int, int)  # conversation id, tokens its shown branch takes
    plan_ready = Signal(object)  # the documents' context plan for the turn running (a dict)

    def __init__(self, buffer: EventBuffer) -> None:
        super().__init__()
        self._buffer = buffer
        self._engine: Engine | None = None
        self._store: Store | None = None
        self._model_sha256: str | None = None
        self._cancel_load = threading.Event()

    def _db(self) -> Store:
        if self._store is None:
            self._store = Store()  # opened on this thread: SQLite connections stay on theirs
        return self._store

    @Slot(str, object)
    def load_model(self, path: str, options: LoadOptions) -> None:
        # Free the current model first: its memory then counts as free in the fit estimate.
        self.unload_model(quiet=True)
        last = [0.0]

        def progress(fraction: float) -> bool:
            if fraction - last[0] >= 0.02 or fraction >= 1.0:  # ≤ 50 signals per load
                last[0] = fraction
                self.load_progress.emit(path, fraction)
            return not self._cancel_load.is_set()

        try:
            self._engine = Engine(path, options, on_progress=progress)
        except ModelTooLargeError as exc:
            self.model_refused.emit(path, str(exc))
            return
        except LoadCancelled:
            self.model_unloaded.emit()
            return
        except ModelLoadError as exc:
            self.model_failed.emit(path, str(exc))
            return
        except Exception as exc:  # a bug, or a llama.cpp failure we did not foresee
            log.exception("loading %s failed", path)
            self.model_failed.emit(path, f"Could not load the model: {exc}")
            return
        self._model_sha256 = self._db().model_files.cached_sha256(path)
        engine = self._engine
        self.model_loaded.emit(ModelInfo(path, engine.name, engine.n_ctx, engine.template.is_harmony))

    def cancel_load(self) -> None:
        """Called from the GUI thread: llama.cpp stops at its next progress callback."""
        self._cancel_load.set()

    @Slot()
    def unload_model(self, quiet: bool = False) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            self._model_sha256 = None
            if not quiet:
                self.model_unloaded.emit()

    @Slot(str, str)
    def set_model_sha256(self, path: str, sha256: str) -> None:
        if self._engine is not None and str(self._engine.path) == path:
            self._model_sha256 = sha256

    @Slot(object, object)
    def run_turn(self, request: TurnRequest, cancel: threading.Event) -> None:
        # Whatever happens, the window hears that the turn ended: it must never stay "busy".
        try:
            if self._engine is None:
                raise RuntimeError("No model is loaded.")
            result = run_turn(self._db(), self._engine, request, cancel=cancel,
                              on_event=self._buffer.push, on_saved=self.turn_saved.emit,
                              on_plan=self.plan_ready.emit, model_sha256=self._model_sha256)
        except Exception as exc:  # refused before the rows existed, or a bug
            log.exception("turn failed before it started")
            self.turn_finished.emit(TurnResult(0, 0, "failed", error=str(exc)))
            return
        self.context_used.emit(request.conversation_id, self._engine.cached_tokens)
        self.turn_finished.emit(result)

    @Slot(int, str, object)
    def measure_context(self, conversation_id: int, effort: str, instructions) -> None:
        """How many tokens the conversation's shown branch takes: the composer's meter."""
        if self._engine is None:
            return
        from inference.context import build_messages

        history = history_for(self._db(), conversation_id, before_id=-1)
        if not history:
            self.context_used.emit(conversation_id, 0)
            return
        try:
            text = self._engine.render(build_messages(instructions, history), effort)
            self.context_used.emit(conversation_id, len(self._engine.tokenize(text)))
        except Exception:  # a template that cannot render this history: no meter, no crash
            log.exception("measuring the context failed")

    @Slot()
    def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._store is not None:
            self._store.close()
            self._store = None


class InferenceThread(QObject):
    """Starts the thread, moves the worker onto it, and stops both cleanly."""

    _load = Signal(str, object)
    _unload = Signal()
    _measure = Signal(int, str, object)
    _turn = Signal(object, object)
    _sha = Signal(str, str)
    _shutdown = Signal()

    def __init__(self, buffer: EventBuffer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("hearth-inference")
        self.worker = InferenceWorker(buffer)
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load_model)
        self._unload.connect(self.worker.unload_model)
        self._measure.connect(self.worker.measure_context)
        self._turn.connect(self.worker.run_turn)
        self._sha.connect(self.worker.set_model_sha256)
        self._shutdown.connect(self.worker.shutdown, QtCore.Qt.ConnectionType.BlockingQueuedConnection)
        self.thread.start()

    def load_model(self, path: str, options: LoadOptions) -> None:
        # Cleared here, on the GUI thread, so a Cancel clicked while the worker is still busy
        # (unloading the previous model, say) is not wiped when the load starts.
        self.worker._cancel_load.clear()
        self._load.emit(path, options)

    def unload_model(self) -> None:
        self._unload.emit()

    def measure_context(self, conversation_id: int, effort: str, instructions) -> None:
        self._measure.emit(conversation_id, effort, instructions)

    def cancel_load(self) -> None:
        self.worker.cancel_load()

    def run_turn(self, request: TurnRequest, cancel: threading.Event) -> None:
        self._turn.emit(request, cancel)

    def set_model_sha256(self, path: str, sha256: str) -> None:
        self._sha.emit(path, sha256)

    def stop(self) -> None:
        """Free the model on its own thread, then end the thread. Cancel any turn first."""
        if self.thread.isRunning():
            self._shutdown.emit()
            self.thread.quit()
            self.thread.wait()


class Job(QtCore.QRunnable):
    """A function on the shared pool; `done`/`failed` are delivered on the GUI thread."""

    class _Signals(QObject):
        done = Signal(object)
        failed = Signal(str)

    def __init__(self, fn: Callable[[], object], expected: tuple = ()) -> None:
        """`expected`: exception types that are the user's to act on (a file Hearth cannot
        read): reported through `failed` without a traceback in the log."""
        super().__init__()
        self._fn = fn
        self._expected = expected
        self.signals = Job._Signals()

    def run(self) -> None:
        try:
            result = self._fn()
        except self._expected as exc:
            self.signals.failed.emit(str(exc))
            return
        except Exception as exc:
            log.exception("background job failed")
            self.signals.failed.emit(str(exc))
            return
        self.signals.done.emit(result)

    def start(self, on_done: Callable[[object], None] | None = None,
              on_failed: Callable[[str], None] | None = None) -> "Job":
        if on_done:
            self.signals.done.connect(on_done)
        if on_failed:
            self.signals.failed.connect(on_failed)
        QtCore.QThreadPool.globalInstance().start(self)
        return self
