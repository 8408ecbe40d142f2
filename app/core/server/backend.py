"""The server's side of the engine's thread: API requests become work queued on the one
engine thread (app/core/engine_host.py) that the window's own turns use, in the order they
came, and what the engine produces comes back to the request's event loop.

Sharing the engine is safe for the window's answers: the engine keeps only the prefix of its
cache that matches the next prompt token for token (runtime.py `_reuse_prefix`), so an API
request in between costs the window's next turn a re-evaluation, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from app.core import model_library
from app.core.engine_host import EngineHost, EngineState
from app.core.server import recording
from app.core.server.openai_api import (
    ApiError,
    ChatRequest,
    CompletionRequest,
    Options,
    context_error,
)
from common.units import estimate_tokens
from inference.chat_format import ChatTemplateError
from inference.context import surely_too_long
from inference.events import GenerationStats
from inference.harmony_text import prompt_from_text
from inference.runtime import ContextFullError, Engine, LoadOptions
from inference.sampling import Sampling

log = logging.getLogger(__name__)
MAX_WAITING = 8  # requests queued behind the one running; more are told the server is busy
END = object()  # the last item of every request's queue


@dataclass(frozen=True)
class Started:
    """The prompt is accepted (it fits): generation begins. Sent before the first token, so
    a refusal can still be an HTTP error rather than a broken stream."""

    prompt_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class LoadedModel:
    id: str  # what /v1/models lists and requests name
    name: str
    n_ctx: int
    created: int
    harmony: bool = False
    path: str = ""

    def answers_to(self, requested: str) -> bool:
        return requested in (self.id, self.name, f"{self.id}.gguf")


@dataclass(frozen=True)
class Activity:
    running: int = 0  # 0 or 1: one engine thread
    waiting: int = 0


def loaded_model(engine) -> LoadedModel | None:
    """The model the server can serve: the in-process engine the thread holds, if any."""
    if not isinstance(engine, Engine) or engine.n_ctx <= 0:
        return None
    try:
        created = int(os.stat(engine.path).st_mtime)
    except OSError:
        created = 0
    return LoadedModel(Path(engine.path).stem, engine.name, engine.n_ctx, created,
                       engine.template.is_harmony, str(engine.path))


class ApiBackend:
    def __init__(self, host: EngineHost, *, max_waiting: int = MAX_WAITING,
                 on_activity: Callable[[Activity], None] | None = None,
                 record_chats: bool = False,
                 on_recorded: Callable[[int], None] | None = None) -> None:
        self.host = host
        self.max_waiting = max_waiting
        self.on_activity = on_activity
        self.record_chats = record_chats  # keep each chat request as a chat (recording.py)
        self.on_recorded = on_recorded  # called with the new chat's id, on the engine's thread
        self._lock = threading.Lock()
        self._activity = Activity()
        self._vocab_lock = threading.Lock()
        self._vocab: Engine | None = None  # the loaded model's tokenizer alone, for /tokenize

    # -- what is served --------------------------------------------------------------------------

    def model(self) -> LoadedModel | None:
        # Plain attributes of the engine, read from the server's thread: no llama.cpp call.
        return loaded_model(self.host.state.engine)

    def require(self, requested: str) -> LoadedModel:
        model = self.model()
        if model is None:
            remote = self.host.state.engine is not None
            raise ApiError(503, "Hearth's model runs on a remote endpoint now; this server "
                                "serves only models running in Hearth." if remote else
                                "No model is loaded in Hearth right now.", type="server_error",
                           code="model_not_loaded")
        if not model.answers_to(requested):
            raise ApiError(404, f"The model '{requested}' does not exist here; this server has "
                                f"'{model.id}'.", param="model", code="model_not_found")
        return model

    @property
    def activity(self) -> Activity:
        return self._activity

    def _change(self, running: int = 0, waiting: int = 0) -> None:
        with self._lock:
            self._activity = Activity(self._activity.running + running,
                                      self._activity.waiting + waiting)
            now = self._activity
        if self.on_activity is not None:
            try:
                self.on_activity(now)
            except Exception:  # noqa: BLE001 - a display must not break a request
                log.exception("activity callback failed")

    def tokenize(self, model: LoadedModel, text: str, add_special: bool = False) -> list[int]:
        """Tokens of `text` as the model reads a prompt, from a tokenizer of its own (the
        file's vocabulary only, loaded once): a count never waits behind a long answer on
        the engine's thread. Blocking: call it from a worker thread."""
        with self._vocab_lock:
            if self._vocab is None or str(self._vocab.path) != model.path:
                self.close()
                self._vocab = Engine(model.path, LoadOptions(vocab_only=True))
            return _prompt_tokens(self._vocab, text, model.harmony, add_special) if text else []

    def close(self) -> None:
        if self._vocab is not None:
            self._vocab.close()
            self._vocab = None

    def record(self, exchange: recording.Exchange) -> None:
        """Keep `exchange` as a chat if recording is on; queued on the engine's thread, which
        owns the database connection. A failure is logged: the client has its answer."""
        if not self.record_chats:
            return

        def job(state: EngineState) -> None:
            if state.open_store is None:
                return
            engine = state.engine
            try:
                chat_id = recording.save(state.store, exchange,
                                         model_name=getattr(engine, "name", None),
                                         model_sha256=state.model_sha256)
            except Exception:  # noqa: BLE001 - e.g. a full disk; the request itself succeeded
                log.exception("could not keep an API conversation as a chat")
                return
            if self.on_recorded is not None:
                self.on_recorded(chat_id)

        self.host.submit(job)

    # -- running work on the engine's thread -----------------------------------------------------

    def start(self, work: Callable[[EngineState, Callable[[Any], None]], None],
              cancel: threading.Event) -> asyncio.Queue:
        """Queue `work(state, emit)` behind what the engine's thread already has; what it
        emits (and any exception it raises) arrives on the returned queue, then END."""
        with self._lock:
            if self._activity.waiting >= self.max_waiting:
                raise ApiError(429, "Hearth is busy with other requests; try again shortly.",
                               type="rate_limit_error", code="server_busy")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the server's loop has closed: nobody is listening
                cancel.set()

        def job(state: EngineState) -> None:
            self._change(running=1, waiting=-1)
            try:
                if not cancel.is_set():  # the client left while it waited
                    work(state, emit)
            except BaseException as exc:  # noqa: BLE001 - the request reports it
                emit(exc)
            finally:
                self._change(running=-1)
                emit(END)

        self._change(waiting=1)
        future = self.host.submit(job)
        if future.done() and future.exception() is not None:  # the engine thread has stopped
            self._change(waiting=-1)
            raise ApiError(503, "Hearth's engine has stopped.", type="server_error")
        return queue


# -- the work itself (on the engine's thread) ---------------------------------------------------

def _engine_for(state: EngineState, requested: str) -> Engine:
    """The engine as it is when the work runs: the window may have switched models since."""
    engine = state.engine
    model = loaded_model(engine)
    if model is None or not model.answers_to(requested):
        raise ApiError(404, f"The model '{requested}' is no longer loaded.", param="model",
                       code="model_not_found")
    return engine


def _sampling(state: EngineState, engine: Engine, options: Options, room: int) -> Sampling:
    """The model's own saved settings (as the window uses them), then what the request says."""
    prefs = (model_library.prefs(state.store, engine.path) if state.open_store is not None
             else model_library.ModelPrefs())
    base = prefs.sampling(model_library.traits(engine.path))  # the file's recommendation too
    limit = options.max_tokens or base.max_tokens
    return replace(base,
                   temperature=base.temperature if options.temperature is None else options.temperature,
                   top_p=base.top_p if options.top_p is None else options.top_p,
                   seed=options.seed, grammar=options.grammar or base.grammar,
                   max_tokens=min(limit, room) if limit else None)


def chat_work(request: ChatRequest, cancel: threading.Event):
    def work(state: EngineState, emit: Callable[[Any], None]) -> None:
        engine = _engine_for(state, request.model)
        try:
            text = engine.render(request.messages, request.effort, tools=request.tools or None,
                                 cancel=cancel)
        except ChatTemplateError as exc:
            raise ApiError(400, str(exc), param="messages") from None
        if surely_too_long(text, engine.n_ctx):  # never tokenize megabytes to learn that
            raise context_error(estimate_tokens(text), engine.n_ctx)
        tokens = engine.tokenize(text)
        room = engine.n_ctx - len(tokens)
        if room <= 0:
            raise context_error(len(tokens), engine.n_ctx)
        sampling = _checked(state, engine, request.options, room)
        emit(Started(len(tokens)))
        for event in engine.chat_tokens(tokens, text, sampling, cancel):
            emit(event)
    return work


def completion_work(request: CompletionRequest, cancel: threading.Event):
    def work(state: EngineState, emit: Callable[[Any], None]) -> None:
        engine = _engine_for(state, request.model)
        if isinstance(request.prompt, list):
            if max(request.prompt) >= engine.n_vocab:
                raise ApiError(400, f"Token ids must be below {engine.n_vocab:,}.", param="prompt")
            tokens = list(request.prompt)
        else:
            if surely_too_long(request.prompt, engine.n_ctx):
                raise context_error(estimate_tokens(request.prompt), engine.n_ctx)
            tokens = _prompt_tokens(engine, request.prompt, engine.template.is_harmony)
        room = engine.n_ctx - len(tokens)
        if room <= 0:
            raise context_error(len(tokens), engine.n_ctx)
        sampling = _checked(state, engine, request.options, room)
        stats = GenerationStats()
        emit(Started(len(tokens)))
        try:
            for piece in engine.generate(tokens, sampling, cancel, stats):
                emit(piece.text)
        except ContextFullError:
            stats.finish_reason = "length"
        emit(stats)
    return work


def _prompt_tokens(engine: Engine, text: str, harmony: bool,
                   add_bos: bool | None = None) -> list[int]:
    """A raw prompt's tokens, its markers as control tokens. Harmony text goes by segments
    (inference/harmony_text.py): the same tokens, with each message's cached, so a client
    sending a conversation again pays only for what is new."""
    return engine.tokenize(prompt_from_text(text) if harmony else text, add_bos=add_bos)


def _checked(state: EngineState, engine: Engine, options: Options, room: int) -> Sampling:
    sampling = _sampling(state, engine, options, room)
    if sampling.grammar:
        try:  # a grammar that does not parse is the request's fault, said before streaming
            engine.check_sampling(sampling)
        except ValueError:
            raise ApiError(400, "The grammar does not parse (GBNF expected).",
                           param="grammar") from None
    return sampling
