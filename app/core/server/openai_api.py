"""The OpenAI API's shapes: requests checked into plain values, answers and errors built as
the official clients expect them. No HTTP and no engine here (app.py and backend.py).

Every request problem is an `ApiError`, which app.py sends as OpenAI sends errors:
`{"error": {"message", "type", "param", "code"}}` with the matching status.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from common.values import EFFORTS
from inference.chat_messages import MessageFormatError, messages_from_openai, tools_from_openai
from inference.events import ToolCall

MAX_STOPS = 4


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def context_error(needed: int, n_ctx: int) -> ApiError:
    return ApiError(400, f"This model's maximum context length is {n_ctx:,} tokens; the "
                         f"messages need {needed:,}. Shorten them.", param="messages",
                    code="context_length_exceeded")


@dataclass(frozen=True)
class Options:
    """What a request asks of the sampler and the stream."""

    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # llama-server's GBNF extension


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list
    options: Options
    effort: str = "medium"
    tools: list = field(default_factory=list)


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt: str | list[int]
    options: Options


def _get(body: Mapping, key: str, kinds, default=None, *, check=None, what: str = ""):
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ApiError(400, f"'{key}' must be {what}.", param=key)
    if not isinstance(value, kinds) or (check is not None and not check(value)):
        raise ApiError(400, f"'{key}' must be {what}.", param=key)
    return value


def _options(body: Mapping) -> Options:
    stream_options = _get(body, "stream_options", dict, {}, what="an object")
    max_tokens = _get(body, "max_completion_tokens", int, None, check=lambda v: v > 0,
                      what="a positive integer")
    if max_tokens is None:
        max_tokens = _get(body, "max_tokens", int, None, check=lambda v: v > 0,
                          what="a positive integer")
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and (not isinstance(stop, list) or len(stop) > MAX_STOPS
                             or not all(isinstance(s, str) and s for s in stop)):
        raise ApiError(400, f"'stop' must be a string or a list of up to {MAX_STOPS} strings.",
                       param="stop")
    n = _get(body, "n", int, 1, what="an integer")
    if n != 1:
        raise ApiError(400, "Only one choice per request ('n': 1) is supported.", param="n")
    return Options(
        stream=_get(body, "stream", bool, False, what="true or false"),
        include_usage=bool(stream_options.get("include_usage")),
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        seed=_get(body, "seed", int, None, what="an integer"),
        stop=tuple(stop or ()),
        grammar=_get(body, "grammar", str, None, what="a GBNF grammar") or None)


def _number(body: Mapping, key: str, low: float, high: float) -> float | None:
    value = _get(body, key, (int, float), None, check=lambda v: low <= v <= high,
                 what=f"a number from {low:g} to {high:g}")
    return None if value is None else float(value)


def _model(body: Mapping) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required: the id /v1/models lists.", param="model")
    return model


def chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, Mapping):
        raise ApiError(400, "The request body must be a JSON object.")
    model = _model(body)
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list.", param="messages")
    try:
        messages = messages_from_openai(raw)
    except MessageFormatError as exc:
        raise ApiError(400, str(exc), param="messages") from None
    effort = body.get("reasoning_effort") or "medium"
    effort = {"minimal": "low"}.get(effort, effort) if isinstance(effort, str) else effort
    if effort not in EFFORTS:
        raise ApiError(400, f"'reasoning_effort' must be one of {', '.join(EFFORTS)}.",
                       param="reasoning_effort")
    tools = []
    if body.get("tools") is not None and body.get("tool_choice") != "none":
        if not isinstance(body["tools"], list):
            raise ApiError(400, "'tools' must be a list.", param="tools")
        try:
            tools = tools_from_openai(body["tools"])
        except MessageFormatError as exc:
            raise ApiError(400, str(exc), param="tools") from None
    return ChatRequest(model, messages, _options(body), effort, tools)


def completion_request(body: Any) -> CompletionRequest:
    if not isinstance(body, Mapping):
        raise ApiError(400, "The request body must be a JSON object.")
    model = _model(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]  # a batch of one
    if isinstance(prompt, list):
        if not prompt or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0
                                 for t in prompt):
            raise ApiError(400, "'prompt' must be text or a list of token ids (one prompt "
                                "per request).", param="prompt")
    elif not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' must be non-empty text.", param="prompt")
    if body.get("echo") or body.get("logprobs") or body.get("suffix"):
        raise ApiError(400, "'echo', 'logprobs' and 'suffix' are not supported.")
    return CompletionRequest(model, prompt, _options(body))


# -- answers -------------------------------------------------------------------------------------

def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def model_entry(model_id: str, n_ctx: int, created: int, harmony: bool) -> dict:
    # max_model_len as vLLM says it; prompt_format tells Hearth's remote engine to send
    # harmony itself (inference/remote.py).
    return {"id": model_id, "object": "model", "created": created, "owned_by": "hearth",
            "max_model_len": n_ctx, "prompt_format": "harmony" if harmony else "template"}


def usage(prompt_tokens: int, completion_tokens: int, cached: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached}}


def tool_call_json(call: ToolCall, index: int) -> dict:
    return {"index": index, "id": call.id or new_id("call"), "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


def chat_chunk(chunk_id: str, model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}


def usage_chunk(chunk_id: str, model: str, object_: str, used: dict) -> dict:
    return {"id": chunk_id, "object": object_, "created": int(time.time()), "model": model,
            "choices": [], "usage": used}


def chat_completion(chunk_id: str, model: str, content: str, reasoning: str,
                    calls: list[dict], finish: str, used: dict) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
    return {"id": chunk_id, "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "logprobs": None,
                                         "finish_reason": finish}], "usage": used}


def completion_chunk(chunk_id: str, model: str, text: str, finish: str | None = None,
                     stop_reason: str | None = None) -> dict:
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
    if finish is not None:
        choice["stop_reason"] = stop_reason  # which end token stopped it (as vLLM says)
    return {"id": chunk_id, "object": "text_completion", "created": int(time.time()),
            "model": model, "choices": [choice]}


class StopMatcher:
    """Stop sequences over streamed text: text that might begin one is held back until
    it is clear; `hit` once one is complete (the text before it is given, not the stop)."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.pending = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if not self.stops:
            return text
        if self.hit:
            return ""
        self.pending += text
        # The stop that is complete first, as a token-by-token stream would meet it: the
        # result does not depend on how the text was cut into pieces.
        found = [(at + len(s), at) for s in self.stops if (at := self.pending.find(s)) >= 0]
        if found:
            self.hit = True
            out, self.pending = self.pending[:min(found)[1]], ""
            return out
        cut = len(self.pending) - self.hold
        if cut <= 0:
            return ""
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.hit else self.pending), ""
        return out
