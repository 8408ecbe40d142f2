"""A model served elsewhere, behind an OpenAI-compatible endpoint, as an engine a turn runs on.

Two ways to talk to it (`mode`):
- "harmony", for gpt-oss on vLLM, llama-server or Hearth's own server: Hearth renders the
  prompt exactly as in-process (inference/harmony_render.py), sends the text to the raw
  `/v1/completions` endpoint, streaming, stopping at `<|return|>` and `<|call|>`, and parses
  the output with its own harmony parser — effort, reasoning and tool calls behave as they do
  in-process, with no server-side template or reasoning parser in between.
- "chat", for any other endpoint: `/v1/chat/completions` (inference/remote_chat.py).

Token counts (the context fit needs them) come from the server's `/tokenize` where it has one
(llama-server, vLLM, Hearth); elsewhere they are estimated from the text's length with a
safety margin, and `template_warning` says so. Construct on the engine's thread: it talks to
the server (models list, tokenizer probe), bounded by the connection's timeouts.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from common.units import estimate_tokens

from .chat_format import Message
from .events import Done, Event, GenerationStats
from .harmony import parser_for
from .harmony_render import render_harmony
from .harmony_text import MarkerSplitter, wire_text
from .remote_chat import ChatPayload, ChatStreamReader, chat_payload
from .remote_http import (
    ConnectionDropped,
    Connection,
    EndpointRefused,
    RemoteError,
    RemoteModelNotFound,
)
from .sampling import Sampling

MODES = ("harmony", "chat")
HARMONY_STOPS = ["<|return|>", "<|call|>"]
DEFAULT_N_CTX = 8192  # when the server does not say: llama-server's and Ollama's usual size
ESTIMATE_MARGIN = 1.3  # estimated counts are raised by this much: the fit errs on the safe side
MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message (role, markers)
_CTX_FIELDS = ("max_model_len", "context_length", "context_window", "max_context_length", "n_ctx")


def default_mode(model: str) -> str:
    """harmony for gpt-oss (its prompt format is known exactly), chat for anything else."""
    return "harmony" if "gpt-oss" in model.lower() else "chat"


@dataclass(frozen=True)
class RemoteModel:
    id: str
    n_ctx: int | None = None  # as the server reports it, if it does
    owned_by: str = ""
    harmony: bool | None = None  # Hearth's server says whether the model speaks harmony


@dataclass(frozen=True)
class RemoteTemplate:
    """What the turn asks of a template: harmony or not (and the parser that goes with it)."""

    is_harmony: bool

    @property
    def source(self) -> str:
        return "<|channel|>" if self.is_harmony else ""


def list_models(connection: Connection) -> list[RemoteModel]:
    """What `/v1/models` lists, with the context size where the server gives one."""
    body = connection.get_json("/v1/models")
    entries = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(entries, list):
        raise RemoteError(f"{connection.host}'s model list is not in the OpenAI shape.")
    models = []
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
            prompt_format = entry.get("prompt_format")
            models.append(RemoteModel(entry["id"], _context_of(entry),
                                      str(entry.get("owned_by") or ""),
                                      None if prompt_format is None else prompt_format == "harmony"))
    return models


def _context_of(entry: Mapping) -> int | None:
    for key in _CTX_FIELDS:
        value = entry.get(key)
        if isinstance(value, int) and value > 0:
            return value
    meta = entry.get("meta")  # llama-server: the context it runs with, else the trained one
    if isinstance(meta, Mapping):
        for key in ("n_ctx", "n_ctx_train"):
            if isinstance(meta.get(key), int) and meta[key] > 0:
                return meta[key]
    return None


class RemoteEngine:
    """One model on one endpoint. Not thread-safe: the engine's thread owns it, as any engine."""

    def __init__(self, url: str, model: str, *, mode: str | None = None,
                 api_key: str | None = None, n_ctx: int | None = None,
                 connection: Connection | None = None) -> None:
        self.connection = connection or Connection(url, api_key)
        self.model = self.name = model
        if mode not in (None, "auto", *MODES):
            raise RemoteError(f"The mode must be harmony or chat, not {mode!r}.")
        self.mode = mode if mode in MODES else default_mode(model)
        self.template = RemoteTemplate(self.mode == "harmony")
        self._send_effort = True
        self._probe_n_ctx = 0  # vLLM's /tokenize tells its context size
        self._counts: OrderedDict[str, int] = OrderedDict()
        try:
            self._discover(n_ctx, choose_mode=mode in (None, "auto"))
        except BaseException:
            self.connection.close()
            raise

    def _discover(self, n_ctx: int | None, choose_mode: bool) -> None:
        found = None
        try:
            models = list_models(self.connection)
        except EndpointRefused as exc:
            if exc.status not in (404, 405):  # some gateways list nothing: go on without
                raise
            models = []
        if models:
            found = next((m for m in models if m.id == self.model), None)
            if found is None:
                names = ", ".join(m.id for m in models[:12]) + (" …" if len(models) > 12 else "")
                raise RemoteModelNotFound(f"{self.connection.host} does not serve "
                                          f"{self.model!r}; it serves: {names}.")
        if choose_mode and found is not None and found.harmony is not None:
            self.mode = "harmony" if found.harmony else "chat"
        self.template = RemoteTemplate(self.mode == "harmony")
        probe = self._server_tokens("Hello")
        self.counting = "server" if probe is not None else "estimate"
        guessed = n_ctx or (found.n_ctx if found else None) or self._props_n_ctx() \
            or self._probe_n_ctx or None
        self.n_ctx = guessed or DEFAULT_N_CTX
        notes = []
        if self.counting == "estimate":
            notes.append(f"{self.connection.host} cannot count tokens, so Hearth estimates "
                         f"them from the text's length and keeps {ESTIMATE_MARGIN - 1:.0%} spare.")
        if guessed is None:
            notes.append(f"It does not say its context size: Hearth assumes {DEFAULT_N_CTX:,} "
                         "tokens (set the real one in Settings → Engines).")
        self.template_warning = " ".join(notes) or None

    def _props_n_ctx(self) -> int | None:
        """llama-server's own context size (its /props), when it is one."""
        try:
            props = self.connection.get_json("/props")
        except RemoteError:
            return None
        settings = props.get("default_generation_settings") if isinstance(props, Mapping) else None
        value = settings.get("n_ctx") if isinstance(settings, Mapping) else None
        return value if isinstance(value, int) and value > 0 else None

    # -- what the turn asks --------------------------------------------------------------------

    @property
    def tools_supported(self) -> bool:
        return True  # harmony declares them itself; chat endpoints take OpenAI tools

    @property
    def cached_tokens(self) -> int:
        return 0  # the server's cache is its own

    def close(self) -> None:
        self.connection.close()

    def render(self, messages: Sequence[Message], effort: str = "medium", *, tools=None,
               builtin_tools=(), now=None, continue_final: bool = False,
               thinking: bool | None = None,
               cancel: threading.Event | None = None) -> str:
        if self.mode == "harmony":
            import datetime as _dt

            return render_harmony(messages, effort=effort, now=now or _dt.datetime.now(),
                                  tools=tools, builtin_tools=builtin_tools,
                                  continue_final=continue_final)
        if continue_final:
            raise RemoteError("This endpoint speaks the chat API, which cannot continue a "
                              "cut-off answer: regenerate it instead.")
        return chat_payload(messages, effort, tools=tools, builtin_tools=builtin_tools,
                            thinking=thinking)

    def tokenize(self, text: str, *, special: bool = True,
                 add_bos: bool | None = None) -> list[int]:
        """The server's count for a prompt where it can give one; an estimate with a margin
        otherwise, and always for plain text (documents, reasoning): one request per passage
        would cost a round trip each. Only the count matters: the server tokenizes again."""
        if not special or self.counting != "server":
            return [0] * _estimate(text)
        key = wire_text(text) if self.mode == "harmony" else str(text)
        count = self._counts.get(key)
        if count is None:
            tokens = self._server_tokens(key)
            count = len(tokens) if tokens is not None else _estimate(text)
            if isinstance(text, ChatPayload):
                count += MESSAGE_OVERHEAD * len(text.body["messages"])
            self._counts[key] = count
            if len(self._counts) > 256:
                self._counts.popitem(last=False)
        else:
            self._counts.move_to_end(key)
        return [0] * count

    def _server_tokens(self, text: str) -> list | None:
        try:
            body = self.connection.post_json("/tokenize", {
                "model": self.model, "content": text, "prompt": text,
                "add_special": False, "add_special_tokens": False, "parse_special": True})
        except RemoteError:
            return None
        tokens = body.get("tokens") if isinstance(body, Mapping) else None
        if not isinstance(tokens, list):
            return None
        if isinstance(body.get("max_model_len"), int):  # vLLM says its context here
            self._probe_n_ctx = body["max_model_len"]
        return tokens

    def chat_tokens(self, prompt: Sequence[int], prompt_text: str, sampling: Sampling,
                    cancel: threading.Event | None = None,
                    reuse_limit: int | None = None) -> Iterator[Event]:
        stats = GenerationStats(prompt_tokens=len(prompt), sampler="remote")
        if self.mode == "harmony":
            yield from self._harmony(prompt, prompt_text, sampling, cancel, stats)
        else:
            yield from self._chat(prompt, prompt_text, sampling, cancel, stats)
        yield Done(stats)

    # -- harmony over /v1/completions ----------------------------------------------------------

    def _harmony(self, prompt, prompt_text, sampling, cancel, stats) -> Iterator[Event]:
        body = {"model": self.model, "prompt": wire_text(prompt_text), "stream": True,
                "stream_options": {"include_usage": True}, "stop": HARMONY_STOPS,
                "max_tokens": self._max_tokens(sampling, len(prompt)),
                # vLLM: keep the markers in the text (its default drops special tokens)
                "skip_special_tokens": False, "spaces_between_special_tokens": False,
                **_sampling_fields(sampling)}
        parser = parser_for(self.template.source, prompt_text)
        splitter = MarkerSplitter()
        clock = _Clock(stats)
        finish, stop_reason, usage = None, None, None
        for chunk in self.connection.stream_events("/v1/completions", body, cancel):
            usage = chunk.get("usage") if isinstance(chunk.get("usage"), Mapping) else usage
            choice = _first_choice(chunk)
            if choice is None:
                continue
            text = choice.get("text")
            if isinstance(text, str) and text:
                clock.tick()
                for piece, marker in splitter.feed(text):
                    yield from parser.feed(piece, marker)
            if choice.get("finish_reason"):
                finish, stop_reason = choice["finish_reason"], choice.get("stop_reason")
        for piece, marker in splitter.finish():
            yield from parser.feed(piece, marker)
        self._end(stats, finish, usage, clock, cancel)
        if stats.finish_reason == "stop":
            # Which end token stopped it, when the server says (vLLM, Hearth); otherwise any
            # of them closes what was being written, a tool call included.
            stats.stop_token = stop_reason if stop_reason in HARMONY_STOPS else "<|return|>"
        yield from parser.finish(stats.stop_token)

    # -- the chat API ----------------------------------------------------------------------------

    def _chat(self, prompt, payload, sampling, cancel, stats) -> Iterator[Event]:
        if not isinstance(payload, ChatPayload):
            raise RemoteError("This prompt was not rendered for the chat API.")
        body = {"model": self.model, **payload.body, "stream": True,
                "stream_options": {"include_usage": True}, **_sampling_fields(sampling)}
        if sampling.max_tokens is not None:
            body["max_tokens"] = sampling.max_tokens
        if not self._send_effort:
            body.pop("reasoning_effort", None)
        reader = ChatStreamReader(payload.recipients)
        clock = _Clock(stats)
        try:
            chunks = self.connection.stream_events("/v1/chat/completions", body, cancel)
            first = next(chunks, None)
        except EndpointRefused as exc:
            if exc.status != 400 or "reasoning" not in exc.detail.lower() or not self._send_effort:
                raise
            self._send_effort = False  # a server that refuses the parameter: ask without it
            body.pop("reasoning_effort", None)
            chunks = self.connection.stream_events("/v1/chat/completions", body, cancel)
            first = next(chunks, None)
        for chunk in ([first] if first is not None else []):
            yield from self._chat_events(reader, chunk, clock)
        for chunk in chunks:
            yield from self._chat_events(reader, chunk, clock)
        self._end(stats, reader.finish_reason, reader.usage, clock, cancel)
        if stats.finish_reason == "stop":
            stats.stop_token = "<|call|>" if reader.finish_reason == "tool_calls" else "<|return|>"
        if stats.finish_reason != "cancelled":
            yield from reader.finish()

    @staticmethod
    def _chat_events(reader: ChatStreamReader, chunk: Mapping, clock) -> Iterator[Event]:
        events = reader.feed(chunk)
        if events or reader.chunks:
            clock.tick()
        yield from events

    # -- shared ----------------------------------------------------------------------------------

    def _max_tokens(self, sampling: Sampling, prompt_tokens: int) -> int:
        room = max(1, self.n_ctx - prompt_tokens)
        return min(sampling.max_tokens, room) if sampling.max_tokens else room

    def _end(self, stats: GenerationStats, finish: str | None, usage, clock, cancel) -> None:
        if cancel is not None and cancel.is_set():
            stats.finish_reason = "cancelled"
        elif finish is None:
            raise ConnectionDropped(f"The answer from {self.connection.host} ended without "
                                    "finishing (the connection closed early); what came "
                                    "before is kept.")
        else:
            stats.finish_reason = "length" if finish == "length" else "stop"
        stats.generated_tokens = clock.count
        if isinstance(usage, Mapping):
            stats.prompt_tokens = _int(usage.get("prompt_tokens")) or stats.prompt_tokens
            stats.generated_tokens = _int(usage.get("completion_tokens")) or stats.generated_tokens
            details = usage.get("prompt_tokens_details")
            if isinstance(details, Mapping):
                stats.cached_tokens = _int(details.get("cached_tokens"))


class _Clock:
    """Time to the first piece, and from it to the last: the same figures as in-process."""

    def __init__(self, stats: GenerationStats) -> None:
        self.stats, self.t0, self.first, self.count = stats, time.perf_counter(), None, 0

    def tick(self) -> None:
        now = time.perf_counter()
        self.count += 1
        if self.first is None:
            self.first = now
            self.stats.ttft_s = now - self.t0
        self.stats.decode_s = now - self.first


def _first_choice(chunk: Mapping) -> Mapping | None:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def _sampling_fields(sampling: Sampling) -> dict[str, Any]:
    fields: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p}
    if sampling.seed is not None:
        fields["seed"] = sampling.seed
    if sampling.top_k:
        fields["top_k"] = sampling.top_k
    if sampling.min_p:
        fields["min_p"] = sampling.min_p
    if sampling.grammar:
        fields["grammar"] = sampling.grammar  # llama-server's and Hearth's GBNF
    return fields


def _estimate(text: str) -> int:
    return math.ceil(estimate_tokens(str(text)) * ESTIMATE_MARGIN)


def _int(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0
