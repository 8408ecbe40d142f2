"""The model the window works with: which one is loading, which one is loaded, its file's
sha256, and the engine thread that owns it (app/core/engine_host.py).

The chat controller and the model manager both talk to this object; neither reaches into the
other. Outcomes arrive as signals on the GUI thread. A load that a newer load superseded
reports nothing: only the model asked for last is ever shown as loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.core import engines, model_library
from app.core.engine_host import EngineHost, EngineState
from app.gui.background import BackgroundOp, GuiCall
from app.gui.qt import QObject, Signal
from common.errors import UserError
from inference.runtime import LoadCancelled, LoadOptions, ModelTooLargeError
from storage import Store
from storage.model_files import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    path: str
    name: str
    n_ctx: int
    harmony: bool
    reasoning: str = "none"  # app/core/sampling_defaults.py: effort | switch | always | none
    # Why the model's own chat template is not used (broken or hostile: ChatML instead), or None.
    template_warning: str | None = None


class ModelSession(QObject):
    loading = Signal(str)  # path
    progress = Signal(str, float)  # path, 0..1 while the weights load
    loaded = Signal(object)  # ModelInfo
    failed = Signal(str, str)  # path, message for the user
    refused = Signal(str, str)  # path, why it would not fit in memory ("Load anyway" overrides)
    unloaded = Signal()
    changed = Signal(object)  # ModelInfo, or None: after every load, failure and unload

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.host = EngineHost("hearth-inference")
        self.model: ModelInfo | None = None
        self.loading_path: str | None = None
        self._generation = 0  # bumped by every load and unload: older outcomes are ignored
        self._cancel_load = threading.Event()
        self._on_gui = GuiCall(self)
        self._shut = False

    # -- loading -------------------------------------------------------------------------------

    def load(self, path: str, options: LoadOptions | None = None, *, allow_swap: bool = False) -> None:
        """Load `path` with its saved settings (or `options`), replacing the current model.
        A remote model's reference (`remote:URL#MODEL`) connects to its endpoint instead."""
        if engines.is_ref(path):
            self._load_remote(path)
            return
        if options is None:
            options = model_library.load_options(self.store, path, allow_swap=allow_swap)
        self._cancel_load.set()  # a load still running gives way to this one
        self._cancel_load = cancel = threading.Event()
        self._generation += 1
        generation = self._generation
        self.model, self.loading_path = None, path
        self.loading.emit(path)
        last = [0.0]

        def progress(fraction: float) -> bool:  # on the engine thread
            if fraction - last[0] >= 0.02 or fraction >= 1.0:  # ≤ 50 signals per load
                last[0] = fraction
                self.progress.emit(path, fraction)
            return not cancel.is_set()

        future = self.host.load(path, options, on_progress=progress)
        future.add_done_callback(lambda f: self._on_gui(lambda: self._load_done(generation, path, f)))

    def _load_remote(self, ref: str) -> None:
        """The engine thread connects (models list, tokenizer probe) and keeps the remote
        engine as it would a local one: turns then run on it the same way."""
        self._cancel_load.set()
        self._cancel_load = threading.Event()
        self._generation += 1
        generation = self._generation
        self.model, self.loading_path = None, ref
        self.loading.emit(ref)

        def connect(state: EngineState):
            return engines.open_engine(state.store if state.open_store else None, ref)

        future = self.host.load_engine(connect)
        future.add_done_callback(lambda f: self._on_gui(lambda: self._load_done(generation, ref, f)))

    def cancel_load(self) -> None:
        self._cancel_load.set()

    def unload(self) -> None:
        self._cancel_load.set()
        self._generation += 1
        self.model, self.loading_path = None, None  # at once: a send now must not reach no engine
        self.host.unload()
        self.unloaded.emit()
        self.changed.emit(None)

    def _load_done(self, generation: int, path: str, future: Future) -> None:
        if generation != self._generation or self._shut:
            return  # superseded by a newer load or an unload: the newer one reports
        self.loading_path = None
        error = future.exception()
        if error is None:
            engine = future.result()
            from app.core.sampling_defaults import reasoning_kind

            remote = engines.is_ref(path)
            if not remote:  # what the header just read says about its sampling
                model_library.remember_traits(path, engine.info)
            starter = model_library.starter_path()
            name = (model_library.STARTER_NAME if not remote and starter and Path(path) == starter
                    else engine.name)
            # `harmony` enables the tools: a remote chat endpoint takes them as OpenAI tools.
            self.model = ModelInfo(path, name, engine.n_ctx,
                                   engine.tools_supported if remote else engine.template.is_harmony,
                                   reasoning_kind(engine.template.source),
                                   engine.template_warning)
            self.loaded.emit(self.model)
            self.changed.emit(self.model)
            if not remote and self.store.model_files.cached_sha256(path) is None:
                self._hash_in_background(path)
            return
        self.model = None
        self.changed.emit(None)  # first: the failure's own message then replaces "no model"
        if isinstance(error, LoadCancelled):
            self.unloaded.emit()
        elif isinstance(error, ModelTooLargeError):
            self.refused.emit(path, str(error))
        elif isinstance(error, UserError):
            self.failed.emit(path, str(error))
        else:  # a bug, or a llama.cpp failure we did not foresee
            log.error("loading %s failed", path, exc_info=error)
            self.failed.emit(path, f"Could not load the model: {error}")

    def _hash_in_background(self, path: str) -> None:
        """Answers record the model file's sha256; 12 GB takes a while, so off the GUI thread."""
        before = os.stat(path)  # the hash belongs to the file as it was when hashing began

        def done(sha: str) -> None:
            self.store.model_files.remember_sha256(path, sha, stat_result=before)

            def remember(state: EngineState) -> None:
                if state.engine is not None and str(state.engine.path) == path:
                    state.model_sha256 = sha
            self.host.submit(remember)
        (BackgroundOp(self, lambda: sha256_file(path), alive=lambda: not self._shut)
         .success(done).failure(lambda exc: log.warning("hashing %s failed: %s", path, exc))
         .run_in_background())

    # -- work on the engine's thread -------------------------------------------------------------

    def run(self, fn: Callable[[EngineState], object],
            on_done: Callable[[object], None] | None = None,
            on_failed: Callable[[BaseException], None] | None = None) -> Future:
        """Run `fn(state)` on the engine's thread; the outcome comes back on the GUI thread
        (dropped once the window has shut down)."""
        future = self.host.submit(fn)

        def back(f: Future) -> None:
            if self._shut:
                return
            if f.exception() is None:
                if on_done is not None:
                    on_done(f.result())
            elif on_failed is not None:
                on_failed(f.exception())
            else:
                from app.gui import errors

                errors.report(self, f.exception())
        future.add_done_callback(lambda f: self._on_gui(lambda: back(f)))
        return future

    def shutdown(self) -> None:
        """Free the model on its own thread, then end the thread. Cancel any turn first."""
        self._shut = True
        self._cancel_load.set()
        self.host.close()
