"""A batch job driven from the window, in slices on the engine's thread.

The engine thread runs one thing at a time, in the order submitted. A batch submitted as
one long piece of work would hold it for hours and starve the chat. So the window submits a
slice (about a quarter of a second of decoding, `SLICE_S`), gets the rows it finished back on
the GUI thread, and submits the next: a chat turn sent meanwhile is queued behind the current
slice, runs whole (the batch waits while it answers), and the batch carries on after it. The
batch's sequences keep their place in the batch's own llama.cpp context (inference/
batch_decode.py), which the chat never touches; the chat keeps its own KV cache too.

The BatchRun object lives on the engine's thread and is touched only there.
"""

from __future__ import annotations

import threading

from app.core.batch_run import BatchRun
from app.gui.qt import QObject, Signal

SLICE_S = 0.25


class BatchDriver(QObject):
    rows_done = Signal(list)  # [storage.batches.Row], finished in the last slice
    progress = Signal(object)  # batch_run.Progress
    stopped = Signal(str)  # done | paused | cancelled
    failed = Signal(str)  # a message for the person (no model loaded, a bad schema…)

    def __init__(self, session, job_id: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job_id = job_id
        self.running = False
        self._stop = threading.Event()
        self._stop_as = "paused"
        self._run: BatchRun | None = None  # the engine thread's

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self._stop.clear()
        self._next()

    def pause(self) -> None:
        self._stop_as = "paused"
        self._stop.set()

    def cancel(self) -> None:
        self._stop_as = "cancelled"
        self._stop.set()
        if not self.running:  # nothing on the engine thread to notice: mark it now
            self.session.run(lambda state: self._mark(state, "cancelled"),
                             on_done=lambda _r: self.stopped.emit("cancelled"))

    def _mark(self, state, status: str) -> None:
        from storage.batches import Batches

        Batches(state.store).set_status(self.job_id, status)

    def _next(self) -> None:
        self.session.run(self._slice, on_done=self._sliced, on_failed=self._failed)

    def _slice(self, state):  # on the engine's thread
        if self._run is not None and self._run.engine is not state.engine:
            self._orphan(state)
        if self._run is None:
            self._run = BatchRun(state.store, state.require_engine(), self.job_id,
                                 model_sha256=state.model_sha256)
        rows: list = []
        finished = self._run.run(self._stop, slice_s=SLICE_S, on_row=rows.append)
        progress = self._run.progress()
        ended = finished or self._stop.is_set()
        if ended:
            if not finished:
                self._run.pause(self._stop_as)
            self._run.close()
            self._run = None
        return rows, progress, "done" if finished else (self._stop_as if ended else None)

    def _sliced(self, result) -> None:
        rows, progress, ended = result
        if rows:
            self.rows_done.emit(rows)
        self.progress.emit(progress)
        if ended is None:
            self._next()
            return
        self.running = False
        self.stopped.emit(ended)

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        self._release_on_engine()
        from common.errors import UserError

        if isinstance(exc, UserError):
            self.failed.emit(str(exc))
        else:
            from app.gui import errors

            errors.report(self, exc)
            self.failed.emit("Something went wrong; the batch stopped.")

    def _release_on_engine(self) -> None:
        def release(_state) -> None:
            if self._run is not None:
                self._run.close()
                self._run = None
        self.session.run(release, on_failed=lambda _e: None)

    def _orphan(self, state) -> None:
        """The model was unloaded under a paused run: its decoder's context belonged to that
        model, which is freed, so it is dropped without a llama.cpp call (a small leak rather
        than a use after free). Its rows still `running` go back to pending."""
        from storage.batches import Batches

        self._run = None
        Batches(state.store).recover(self.job_id)

    def release_now(self) -> None:
        """Another model is about to load (session.loading, emitted before the load is
        queued): stop, and free the batch's context while its model still exists."""
        self.pause()

        def release(state) -> None:
            if self._run is not None and self._run.engine is state.engine:
                self._run.pause("paused")
                self._run.close()
            self._run = None
        self.session.run(release, on_failed=lambda _e: None)

    def shutdown(self) -> None:
        """The window closes: stop after the current slice (rows in flight go back to pending)."""
        self.pause()
        if not self.running:
            self._release_on_engine()
