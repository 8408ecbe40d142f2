"""What a generation stream yields: typed events, plain data, safe to pass between threads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Union

FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's chain of thought (harmony `analysis`, or `<think>` text)."""

    text: str


@dataclass(frozen=True)
class AnswerDelta:
    """A piece of the answer the user reads (harmony `final`, or text outside `<think>`)."""

    text: str


@dataclass(frozen=True)
class PreambleDelta:
    """Text the model writes for the user beside its tool calls (harmony `commentary` with no
    recipient): "Let me look that up." Not part of the final answer."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete call the model addressed to a tool, as its harmony header said it.

    The same value goes back into the conversation (an assistant message's `tool_calls`), so
    the call is rendered the way the model wrote it.
    """

    recipient: str  # "functions.get_weather", "browser.search", "python"
    arguments: str  # exactly as generated (for functions, JSON text; nothing checked here)
    channel: str = "commentary"  # functions: commentary; built-in tools: analysis
    content_type: str = "json"  # the header's content type: "json", "code", "" for none
    constrained: bool = True  # written as `<|constrain|>json` rather than plain ` json`
    id: str = ""  # pairs the call with its result (the OpenAI shape's tool_call_id)

    @property
    def name(self) -> str:
        """The function's name (`get_weather`); built-in tools keep their recipient."""
        return self.recipient.removeprefix("functions.")


@dataclass
class GenerationStats:
    prompt_tokens: int = 0  # tokens in the whole rendered prompt
    cached_tokens: int = 0  # of those, reused from the KV cache (not evaluated again)
    generated_tokens: int = 0
    ttft_s: float = 0.0  # request to first generated token (prompt evaluation included)
    decode_s: float = 0.0  # first generated token to the last
    sampler: str = "cpu"  # where the sampler chain ran: "backend" (on the device) or "cpu"
    stop_token: str = ""  # the end-of-generation token that stopped it: "<|return|>", "<|call|>"…
    finish_reason: FinishReason = "stop"
    drafted_tokens: int = 0  # speculative decoding: tokens proposed from the context…
    accepted_tokens: int = 0  # …and how many of them the model confirmed

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    @property
    def decode_tps(self) -> float:
        """Tokens per second after the first token (the first one pays for the prompt)."""
        if self.generated_tokens < 2 or self.decode_s <= 0:
            return 0.0
        return (self.generated_tokens - 1) / self.decode_s

    def as_dict(self) -> dict:
        d = asdict(self)
        d["evaluated_tokens"] = self.evaluated_tokens
        d["decode_tps"] = round(self.decode_tps, 2)
        return d


@dataclass(frozen=True)
class Done:
    """The last event of every stream. Cancellation is a normal outcome: finish_reason 'cancelled'."""

    stats: GenerationStats = field(default_factory=GenerationStats)

    @property
    def finish_reason(self) -> FinishReason:
        return self.stats.finish_reason


Event = Union[ReasoningDelta, AnswerDelta, PreambleDelta, ToolCall, Done]
