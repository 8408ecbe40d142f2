"""Sampling settings and the llama.cpp sampler chain built from them.

gpt-oss is meant to be sampled at temperature 1.0 and top-p 1.0 over a 201k-token vocabulary.
On the CPU that means a copy of all logits and a full softmax per token; the vendored
llama.cpp can instead run the chain inside the model's graph on the device
(`llama_set_sampler`), which removes both. We attach the chain there when the backend accepts
it and keep the ordinary CPU chain as the fallback (always, when a grammar is in play).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import llama_cpp


@dataclass(frozen=True)
class Sampling:
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    min_p: float = 0.0
    seed: int | None = None  # None: a fresh random seed for each generation
    grammar: str | None = None  # GBNF; forces the output's shape (tests, tool arguments)
    max_tokens: int | None = None  # None: until end of generation or the context is full

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def with_seed(self) -> "Sampling":
        """The same settings with a concrete seed, so a generation can be repeated exactly."""
        return self if self.seed is not None else replace(self, seed=random.randrange(2**31))


GPT_OSS_DEFAULT = Sampling(temperature=1.0, top_p=1.0)
GREEDY = Sampling(temperature=0.0)


class SamplerChain:
    """Owns one llama_sampler chain; `free()` releases it (and everything added to it)."""

    def __init__(self, sampling: Sampling, vocab, grammar_root: str = "root") -> None:
        params = llama_cpp.llama_sampler_chain_default_params()
        params.no_perf = True
        self.ptr = llama_cpp.llama_sampler_chain_init(params)
        self.sampling = sampling
        self.has_grammar = bool(sampling.grammar)
        if sampling.grammar:
            grammar = llama_cpp.llama_sampler_init_grammar(
                vocab, sampling.grammar.encode("utf-8"), grammar_root.encode("utf-8"))
            if not grammar:
                self.free()
                raise ValueError("The grammar does not parse.")
            self._add(grammar)
        # Only samplers that change something: top-p 1.0 or temperature 1.0 would cost a
        # pass over the whole vocabulary per token and do nothing.
        if sampling.greedy:
            self._add(llama_cpp.llama_sampler_init_greedy())
            return
        if sampling.top_k > 0:
            self._add(llama_cpp.llama_sampler_init_top_k(sampling.top_k))
        if sampling.top_p < 1.0:
            self._add(llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
        if sampling.min_p > 0.0:
            self._add(llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
        if sampling.temperature != 1.0:
            self._add(llama_cpp.llama_sampler_init_temp(sampling.temperature))
        seed = sampling.seed if sampling.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
        self._add(llama_cpp.llama_sampler_init_dist(seed))

    def _add(self, sampler) -> None:
        llama_cpp.llama_sampler_chain_add(self.ptr, sampler)

    def reset(self) -> None:
        llama_cpp.llama_sampler_reset(self.ptr)

    def sample(self, ctx, index: int = -1) -> int:
        """Sample from the batch's output `index` (-1: its last) and accept the token."""
        return llama_cpp.llama_sampler_sample(self.ptr, ctx, index)

    def free(self) -> None:
        if self.ptr:
            llama_cpp.llama_sampler_free(self.ptr)
            self.ptr = None
