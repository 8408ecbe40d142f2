"""Hearth's OpenAI-compatible API as a Starlette app: `GET /v1/models`, `POST
/v1/chat/completions` and `POST /v1/completions` (streamed as server-sent events, or whole),
`POST /tokenize` (llama-server's and vLLM's shape), `GET /health`.

Guards for a server that other programs on the machine can reach: an optional API key;
POST bodies must say they are JSON (so a web page cannot send one without the browser's
cross-origin check) and are capped in size; on a loopback address only requests naming a
loopback host are served (a DNS-rebinding page names its own).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from typing import Any, AsyncIterator, Callable

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.core.server import openai_api as api
from app.core.server import recording
from app.core.server.backend import END, ApiBackend, Started, chat_work, completion_work
from common.errors import UserError
from inference.events import AnswerDelta, Done, GenerationStats, PreambleDelta, ReasoningDelta, ToolCall

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024 * 1024
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
PING_S = 15
DISCONNECT_POLL_S = 0.5


def create_app(backend: ApiBackend, *, api_key: str | None = None,
               loopback_only: bool = True) -> Starlette:
    def authorized(request: Request) -> None:
        if not api_key:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise api.ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    async def models(request: Request) -> JSONResponse:
        authorized(request)
        model = backend.model()
        data = [api.model_entry(model.id, model.n_ctx, model.created, model.harmony)] if model else []
        return JSONResponse({"object": "list", "data": data})

    async def model(request: Request) -> JSONResponse:
        authorized(request)
        found = backend.require(request.path_params["model"])
        return JSONResponse(api.model_entry(found.id, found.n_ctx, found.created, found.harmony))

    async def chat(request: Request):
        authorized(request)
        parsed = api.chat_request(await _json_body(request))
        found = backend.require(parsed.model)
        cancel = threading.Event()
        queue = backend.start(chat_work(parsed, cancel), cancel)
        started = await _started(queue, request, cancel)
        answer = _ChatAnswer(parsed, found.id, started, cancel, backend.record)
        if parsed.options.stream:
            return EventSourceResponse(_sse(answer.stream(queue, request), cancel), ping=PING_S)
        return JSONResponse(await answer.whole(queue, request))

    async def completions(request: Request):
        authorized(request)
        parsed = api.completion_request(await _json_body(request))
        found = backend.require(parsed.model)
        cancel = threading.Event()
        queue = backend.start(completion_work(parsed, cancel), cancel)
        started = await _started(queue, request, cancel)
        answer = _CompletionAnswer(parsed, found.id, started, cancel)
        if parsed.options.stream:
            return EventSourceResponse(_sse(answer.stream(queue, request), cancel), ping=PING_S)
        return JSONResponse(await answer.whole(queue, request))

    async def tokenize(request: Request) -> JSONResponse:
        authorized(request)
        body = await _json_body(request)
        text = body.get("content", body.get("prompt")) if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise api.ApiError(400, "'content' (or 'prompt') must be text.", param="content")
        requested = body.get("model") if isinstance(body.get("model"), str) else None
        model = backend.require(requested) if requested else backend.model()
        if model is None:
            raise api.ApiError(503, "No model is loaded in Hearth right now.", type="server_error")
        tokens = await asyncio.to_thread(backend.tokenize, model, text,
                                         body.get("add_special") is True)
        return JSONResponse({"tokens": tokens, "count": len(tokens), "max_model_len": model.n_ctx})

    async def health(request: Request) -> JSONResponse:
        activity = backend.activity
        return JSONResponse({"status": "ok" if backend.model() else "no model",
                             "running": activity.running, "waiting": activity.waiting})

    routes = [Route("/v1/models", models), Route("/v1/models/{model:path}", model),
              Route("/v1/chat/completions", chat, methods=["POST"]),
              Route("/v1/completions", completions, methods=["POST"]),
              Route("/tokenize", tokenize, methods=["POST"]), Route("/health", health)]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)] \
        if loopback_only else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={
        api.ApiError: _api_error, HTTPException: _http_error, UserError: _user_error,
        Exception: _bug})


# -- errors, OpenAI-shaped -------------------------------------------------------------------------

async def _api_error(_request: Request, exc: api.ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return JSONResponse(api.ApiError(exc.status_code, str(exc.detail), type=kind).body(),
                        status_code=exc.status_code)


async def _user_error(_request: Request, exc: UserError) -> JSONResponse:
    return JSONResponse(api.ApiError(400, str(exc)).body(), status_code=400)


async def _bug(_request: Request, exc: Exception) -> JSONResponse:
    log.error("API request failed", exc_info=exc)
    return JSONResponse(api.ApiError(500, "Hearth failed to answer this request (the details "
                                          "are in its log).", type="server_error").body(),
                        status_code=500)


def _as_api_error(exc: BaseException) -> api.ApiError:
    if isinstance(exc, api.ApiError):
        return exc
    if isinstance(exc, UserError):
        return api.ApiError(400, str(exc))
    log.error("API request failed on the engine's thread", exc_info=exc)
    return api.ApiError(500, f"The model stopped with an error: {exc}", type="server_error")


# -- requests and the queue --------------------------------------------------------------------------

async def _json_body(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise api.ApiError(415, "Send the request body as JSON, with the header "
                                "'Content-Type: application/json'.")
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise api.ApiError(413, f"The request body is larger than "
                                    f"{MAX_BODY_BYTES // (1024 * 1024)} MB.")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise api.ApiError(400, "We could not parse the JSON body of your request. (HINT: "
                                "the body must be valid JSON.)") from None


async def _next(queue: asyncio.Queue, request: Request, cancel: threading.Event) -> Any:
    """The next item from the engine, giving up (and stopping the work) if the client left."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), DISCONNECT_POLL_S)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                cancel.set()
                raise asyncio.CancelledError from None


_MERGEABLE = (ReasoningDelta, AnswerDelta, PreambleDelta, str)


async def _batch(queue: asyncio.Queue, request: Request, cancel: threading.Event) -> list:
    """The next item, with whatever else is already waiting: runs of text of one kind are
    merged, so a client slower than the engine gets fewer, larger chunks instead of falling
    behind one event per token."""
    items = [await _next(queue, request, cancel)]
    while items[-1] is not END and not queue.empty() and len(items) < 256:
        item = queue.get_nowait()
        last = items[-1]
        if type(item) is type(last) and isinstance(item, _MERGEABLE):
            items[-1] = last + item if isinstance(item, str) else type(item)(last.text + item.text)
        else:
            items.append(item)
    return items


async def _items(queue: asyncio.Queue, request: Request, cancel: threading.Event):
    """Every item up to END, batched as _batch merges them."""
    while True:
        for item in await _batch(queue, request, cancel):
            if item is END:
                return
            yield item


async def _started(queue: asyncio.Queue, request: Request, cancel: threading.Event) -> Started:
    try:
        first = await _next(queue, request, cancel)
    except asyncio.CancelledError:
        raise
    if isinstance(first, BaseException):
        raise _as_api_error(first)
    if first is END:
        raise api.ApiError(499, "The request was cancelled.")
    return first


async def _sse(events: AsyncIterator[dict | str], cancel: threading.Event):
    try:
        async for event in events:
            yield {"data": event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)}
    finally:
        cancel.set()  # the client went away, or the answer is over: stop the engine either way


class _ChatAnswer:
    """Engine events of one chat request as OpenAI chunks, or as one completion object."""

    def __init__(self, request: api.ChatRequest, model: str, started: Started,
                 cancel: threading.Event,
                 record: Callable[[recording.Exchange], None] | None = None) -> None:
        self.request, self.model, self.started, self.cancel = request, model, started, cancel
        self.id = api.new_id("chatcmpl")
        self.stop = api.StopMatcher(request.options.stop)
        self.calls: list[dict] = []
        self._record = record
        self._sent: list[str] = []  # the content as the client got it, for a recording
        self._reasoning: list[str] = []
        self._tool_calls: list[ToolCall] = []
        self._stats: GenerationStats | None = None  # set by Done
        self._error: str | None = None

    def _deltas(self, item: Any) -> list[dict]:
        if isinstance(item, ReasoningDelta):
            self._reasoning.append(item.text)
            return [{"reasoning_content": item.text}]
        if isinstance(item, (AnswerDelta, PreambleDelta)):
            text = self.stop.feed(item.text)
            if self.stop.hit:
                self.cancel.set()
            self._sent.append(text)
            return [{"content": text}] if text else []
        if isinstance(item, ToolCall):
            self._tool_calls.append(item)
            self.calls.append(api.tool_call_json(item, len(self.calls)))
            return [{"tool_calls": [self.calls[-1]]}]
        if isinstance(item, Done):
            self._stats = item.stats
        return []

    def _flush(self) -> str:
        rest = self.stop.flush()
        self._sent.append(rest)
        return rest

    def _finished(self) -> None:
        """Hand the exchange to the recorder (which keeps it only if recording is on)."""
        if self._record is None:
            return
        done = self._stats is not None and self._error is None
        self._record(recording.Exchange(
            tuple(self.request.messages), self.request.effort, "".join(self._sent),
            "".join(self._reasoning), tuple(self._tool_calls), self._stats or GenerationStats(),
            status="complete" if done else "failed" if self._error else "cancelled",
            error=self._error))

    def _finish(self, stats: GenerationStats) -> str:
        if self.calls:
            return "tool_calls"
        return "length" if stats.finish_reason == "length" and not self.stop.hit else "stop"

    def _usage(self, stats: GenerationStats) -> dict:
        return api.usage(self.started.prompt_tokens, stats.generated_tokens, stats.cached_tokens)

    async def stream(self, queue: asyncio.Queue, request: Request) -> AsyncIterator[dict | str]:
        try:
            yield api.chat_chunk(self.id, self.model, {"role": "assistant", "content": ""})
            async for item in _items(queue, request, self.cancel):
                if isinstance(item, BaseException):
                    error = _as_api_error(item)
                    self._error = error.message
                    yield error.body()
                    return
                for delta in self._deltas(item):
                    yield api.chat_chunk(self.id, self.model, delta)
                if isinstance(item, Done):
                    rest = self._flush()
                    if rest:
                        yield api.chat_chunk(self.id, self.model, {"content": rest})
                    yield api.chat_chunk(self.id, self.model, {}, self._finish(item.stats))
                    if self.request.options.include_usage:
                        yield api.usage_chunk(self.id, self.model, "chat.completion.chunk",
                                              self._usage(item.stats))
            yield "[DONE]"
        finally:  # also when the client leaves mid-answer: what it got is kept, as cancelled
            self._finished()

    async def whole(self, queue: asyncio.Queue, request: Request) -> dict:
        content, reasoning, stats = [], [], GenerationStats()
        try:
            while (item := await _next(queue, request, self.cancel)) is not END:
                if isinstance(item, BaseException):
                    error = _as_api_error(item)
                    self._error = error.message
                    raise error
                for delta in self._deltas(item):
                    content.append(delta.get("content", ""))
                    reasoning.append(delta.get("reasoning_content", ""))
                if isinstance(item, Done):
                    stats = item.stats
            content.append(self._flush())
        finally:
            self.cancel.set()
            self._finished()
        return api.chat_completion(self.id, self.model, "".join(content), "".join(reasoning),
                                   self.calls, self._finish(stats), self._usage(stats))


class _CompletionAnswer:
    def __init__(self, request: api.CompletionRequest, model: str, started: Started,
                 cancel: threading.Event) -> None:
        self.request, self.model, self.started, self.cancel = request, model, started, cancel
        self.id = api.new_id("cmpl")
        self.stop = api.StopMatcher(request.options.stop)

    def _text(self, piece: str) -> str:
        text = self.stop.feed(piece)
        if self.stop.hit:
            self.cancel.set()
        return text

    def _end(self, stats: GenerationStats) -> tuple[str, str | None]:
        if self.stop.hit:
            return "stop", None
        if stats.finish_reason == "length":
            return "length", None
        return "stop", stats.stop_token or None

    async def stream(self, queue: asyncio.Queue, request: Request) -> AsyncIterator[dict | str]:
        async for item in _items(queue, request, self.cancel):
            if isinstance(item, BaseException):
                yield _as_api_error(item).body()
                return
            if isinstance(item, str):
                text = self._text(item)
                if text:
                    yield api.completion_chunk(self.id, self.model, text)
            elif isinstance(item, GenerationStats):
                finish, stop_reason = self._end(item)
                yield api.completion_chunk(self.id, self.model, self.stop.flush(), finish, stop_reason)
                if self.request.options.include_usage:
                    yield api.usage_chunk(self.id, self.model, "text_completion", api.usage(
                        self.started.prompt_tokens, item.generated_tokens, item.cached_tokens))
        yield "[DONE]"

    async def whole(self, queue: asyncio.Queue, request: Request) -> dict:
        parts, stats = [], GenerationStats()
        try:
            while (item := await _next(queue, request, self.cancel)) is not END:
                if isinstance(item, BaseException):
                    raise _as_api_error(item)
                if isinstance(item, str):
                    parts.append(self._text(item))
                elif isinstance(item, GenerationStats):
                    stats = item
        finally:
            self.cancel.set()
        finish, stop_reason = self._end(stats)
        body = api.completion_chunk(self.id, self.model, "".join(parts) + self.stop.flush(),
                                    finish, stop_reason)
        body["usage"] = api.usage(self.started.prompt_tokens, stats.generated_tokens,
                                  stats.cached_tokens)
        return body
