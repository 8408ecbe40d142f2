"""The one thread that owns a llama.cpp engine, for the window and `hearth` alike.

A llama.cpp context is not thread-safe, and freeing a model while another thread is inside
`llama_decode` crashes the process. So one thread loads the engine, runs every turn on it and
frees it; other threads hand it work (`submit`) and get a Future back, and may only set the
cancel events they passed in. No Qt here: the window wraps this in app/gui/session.py.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from inference.engine import ChatEngine
from inference.runtime import Engine, LoadOptions
from storage import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
ENGINE_STACK_BYTES = 64 * 1024 * 1024


@dataclass
class EngineState:
    """What lives on the engine's thread: the engine, and that thread's own database
    connection (an SQLite connection belongs to the thread that opened it)."""

    engine: ChatEngine | None = None  # in-process (runtime.Engine) or remote (inference/remote.py)
    model_sha256: str | None = None  # of the loaded file, once known (hashing takes a while)
    open_store: Callable[[], Store] | None = field(default=Store, repr=False)  # None: no database
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        if self._store is None:
            if self.open_store is None:
                raise RuntimeError("this engine thread has no database")
            self._store = self.open_store()
        return self._store

    def close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def require_engine(self) -> ChatEngine:
        if self.engine is None:
            from common.errors import UserError

            raise UserError("No model is loaded.")
        return self.engine

    def unload(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
            self.model_sha256 = None


class EngineHost:
    """A thread that owns one engine at a time. Work runs in the order it was submitted."""

    def __init__(self, name: str = "hearth-engine",
                 open_store: Callable[[], Store] | None = Store) -> None:
        self.state = EngineState(open_store=open_store)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self._stopped = threading.Event()  # set by the thread itself as its very last act
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        # llama.cpp recurses deeply in places (its tokenizer's regex, Jinja-free as we are);
        # macOS gives secondary threads 512 KB of stack. The engine's thread gets 64 MB.
        previous = threading.stack_size(ENGINE_STACK_BYTES)
        try:
            self._thread.start()
        finally:
            threading.stack_size(previous)

    def submit(self, fn: Callable[[EngineState], T]) -> Future[T]:
        """Run `fn(state)` on the engine's thread; its result or exception lands in the Future."""
        future: Future[T] = Future()
        if self._closed.is_set():
            future.set_exception(RuntimeError("the engine thread has stopped"))
            return future
        self._queue.put((fn, future))
        return future

    def load(self, path: str | Path, options: LoadOptions,
             on_progress: Callable[[float], bool] | None = None) -> Future[Engine]:
        """Free the current model first (its memory then counts as free in the fit estimate),
        then load `path`. The Future fails with the loader's UserError when it cannot."""
        def work(state: EngineState) -> Engine:
            state.unload()
            state.engine = Engine(path, options, on_progress=on_progress)
            if state.open_store is not None:
                state.model_sha256 = state.store.model_files.cached_sha256(str(path))
            return state.engine
        return self.submit(work)

    def load_engine(self, make: Callable[[EngineState], ChatEngine]) -> Future[ChatEngine]:
        """Free the current engine, then make another on this thread with `make(state)` (a
        remote one: it talks to its server, and its UserError fails the Future)."""
        def work(state: EngineState) -> ChatEngine:
            state.unload()
            state.engine = make(state)
            return state.engine
        return self.submit(work)

    def unload(self) -> Future[None]:
        return self.submit(lambda state: state.unload())

    def close(self, timeout: float | None = None) -> bool:
        """Free the engine and the store on their own thread, after the work already queued.
        True once the thread has ended. Cancel running turns first."""
        if not self._closed.is_set():
            self._queue.put(None)
            self._closed.set()
        # Waiting on the thread's last Event rather than Thread.join(): on Python 3.11 a
        # KeyboardInterrupt inside join() can mark a running thread as finished (cpython #90882).
        return self._stopped.wait(timeout)

    @property
    def alive(self) -> bool:
        return not self._stopped.is_set()

    def _loop(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                fn, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(self.state)
                except BaseException as exc:  # the caller decides what it means
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            try:
                self.state.unload()
                self.state.close_store()
            finally:
                # Work submitted after close() was decided: fail it rather than leave it hanging.
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[1].set_exception(RuntimeError("the engine thread has stopped"))
                self._stopped.set()
