"""How an answer was made, as one typed record: what "Info" shows, what "Re-run exactly"
replays, what the footer reports. Stored as JSON in the message's `stats` column and read back
into this type, so no module reads that JSON by key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from inference.events import GenerationStats
from inference.sampling import Sampling

RerunOutcome = Literal["identical", "differs", "stopped"]


@dataclass(frozen=True)
class Provenance:
    # -- what the answer was made from (a replay needs all of these) --------------------------
    effort: str | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    seed: int | None = None
    max_tokens: int | None = None
    grammar: str | None = None  # constrained output is part of what reproduces it
    thinking: bool | None = None  # the <think> switch (None: the model's default, or none)
    instructions: str | None = None
    prompt_sha256: str | None = None  # of the exact rendered prompt
    prompt_date: str | None = None  # the date the template wrote into it (ISO, seconds)
    cached_tokens: int = 0  # prompt tokens reused from the KV cache, not evaluated again
    documents: dict | None = None  # the documents' context plan (what went in whole, passages)
    dropped_messages: int = 0  # the oldest messages that did not fit the context
    # Where each sampling value came from ("yours", "file", "model card", "llama.cpp default",
    # "preset"), and the model family whose card spoke: what Info says about the values.
    sampling_sources: dict | None = None
    model_family: str | None = None
    # -- how the generation went ---------------------------------------------------------------
    prompt_tokens: int = 0
    generated_tokens: int = 0
    ttft_s: float = 0.0
    decode_s: float = 0.0
    decode_tps: float = 0.0
    sampler: str = "cpu"
    finish_reason: str = "stop"  # stop | length | cancelled | error
    reasoning_s: float | None = None  # "Thought for 12 s"
    reasoning_tokens: int | None = None
    # Tools the answer was offered (name, namespace, description, parameters): a replay declares
    # them again exactly; its calls are answered from the stored results (storage/tool_calls).
    tools: tuple = ()
    citations: tuple = ()  # passages tools returned, citable as [n] like the plan's
    # -- what happened to it later ---------------------------------------------------------------
    continued: bool = False  # grown by Continue: two generations, so never replayed exactly
    rerun_of: int | None = None  # the answer this one replays
    rerun_outcome: RerunOutcome | None = None

    @property
    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                        min_p=self.min_p, seed=self.seed, max_tokens=self.max_tokens,
                        grammar=self.grammar)

    @property
    def replayable(self) -> bool:
        """Re-run exactly can reproduce this answer token for token."""
        return self.seed is not None and self.prompt_sha256 is not None and not self.continued

    @property
    def why_not_replayable(self) -> str | None:
        if self.continued:
            return "This answer was continued, so it came from two generations and cannot be replayed exactly."
        if self.seed is None or self.prompt_sha256 is None:
            return "This answer does not record how it was made, so it cannot be replayed."
        return None

    def with_sampling(self, sampling: Sampling) -> Provenance:
        return replace(self, temperature=sampling.temperature, top_p=sampling.top_p,
                       top_k=sampling.top_k, min_p=sampling.min_p, seed=sampling.seed,
                       max_tokens=sampling.max_tokens, grammar=sampling.grammar)

    def with_stats(self, stats: GenerationStats) -> Provenance:
        return replace(self, prompt_tokens=stats.prompt_tokens, cached_tokens=stats.cached_tokens,
                       generated_tokens=stats.generated_tokens, ttft_s=stats.ttft_s,
                       decode_s=stats.decode_s, decode_tps=round(stats.decode_tps, 2),
                       sampler=stats.sampler, finish_reason=stats.finish_reason)

    def to_json(self) -> dict[str, Any]:
        """What the `stats` column stores: every field (a record stays readable if a default
        changes later), tuples as lists."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> Provenance:
        """Read back what `to_json` wrote, and what earlier versions wrote (`rerun_identical`);
        unknown keys and values of the wrong type are dropped, never raised on."""
        if not isinstance(data, dict):
            return cls()
        data = dict(data)
        if "rerun_identical" in data and "rerun_outcome" not in data:
            data["rerun_outcome"] = "identical" if data["rerun_identical"] else "differs"
        kept = {}
        defaults = asdict(cls())
        for f in fields(cls):
            if f.name not in data:
                continue
            value, default = data[f.name], defaults[f.name]
            if f.name in ("tools", "citations"):
                kept[f.name] = tuple(v for v in value if isinstance(v, dict)) \
                    if isinstance(value, list) else ()
            elif _same_kind(value, default, f.name):
                kept[f.name] = value
        return cls(**kept)


_OPTIONAL = {"effort": str, "seed": int, "max_tokens": int, "grammar": str, "instructions": str,
             "thinking": bool, "sampling_sources": dict, "model_family": str,
             "prompt_sha256": str, "prompt_date": str, "documents": dict, "reasoning_s": float,
             "reasoning_tokens": int, "rerun_of": int, "rerun_outcome": str}


def of(message: Any) -> Provenance:
    """The provenance of a stored message (storage.Message)."""
    return Provenance.from_json(message.stats)


def _same_kind(value: Any, default: Any, name: str) -> bool:
    if value is None:
        return name in _OPTIONAL
    want = _OPTIONAL.get(name) or type(default)
    if want is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if want is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, want)


__all__ = ["Provenance", "RerunOutcome", "of"]
