"""The KV cache's bookkeeping for an Engine: what is evaluated, kept, cut and forgotten.

A mixin: Engine (inference/runtime.py) sets `_ctx`, `_memory`, `_model`, `n_batch`, `_verify`
and `_cached`, the tokens whose K/V sit in the cache at positions 0..n-1, which every method
here keeps equal to the cache's contents.
"""

from __future__ import annotations

from typing import Sequence

import llama_cpp

from common.errors import UserError

from .speculative import VerifyBatch


class ContextFullError(UserError):
    """The prompt alone does not fit the context window."""


class KVCache:
    def _decode(self, tokens: Sequence[int]) -> None:
        arr = (llama_cpp.llama_token * len(tokens))(*tokens)
        rc = llama_cpp.llama_decode(self._ctx, llama_cpp.llama_batch_get_one(arr, len(tokens)))
        if rc != 0:
            # Whatever this batch did to the cache is unknown now: start clean next time.
            self._forget_cache()
            if rc == 1:
                raise ContextFullError("The context window is full.")
            raise RuntimeError(self._failure(f"llama_decode failed ({rc})"))
        self._cached.extend(tokens)

    def _decode_all(self, tokens: Sequence[int]) -> None:
        """Evaluate `tokens` after the cache with an output at every position (a draft's check)."""
        if self._verify is None:
            self._verify = VerifyBatch(self.n_batch)
        batch = self._verify.fill(tokens, len(self._cached))
        # A draft's check is a decode step, not a prompt: on the decode threads. llama.cpp gives
        # every batch of more than one token the prompt's threads (all cores), which spin
        # between graph nodes and stall whenever another process wants a core
        # (tests/benchmarks/bench_peer_cpu.py measures both).
        decode_threads, batch_threads = self._threads
        if batch_threads != decode_threads:
            llama_cpp.llama_set_n_threads(self._ctx, decode_threads, decode_threads)
        try:
            rc = llama_cpp.llama_decode(self._ctx, batch)
        finally:
            if batch_threads != decode_threads:
                llama_cpp.llama_set_n_threads(self._ctx, decode_threads, batch_threads)
        if rc != 0:
            self._forget_cache()
            if rc == 1:
                raise ContextFullError("The context window is full.")
            raise RuntimeError(self._failure(f"llama_decode failed ({rc})"))
        self._cached.extend(tokens)

    def _truncate_cache(self, n: int) -> None:
        """Keep only the first `n` cached tokens (drop a draft's rejected tail)."""
        if n < len(self._cached):
            if not llama_cpp.llama_memory_seq_rm(self._memory, 0, n, -1):
                self._forget_cache()
                raise RuntimeError("llama.cpp could not remove rejected draft tokens")
            del self._cached[n:]

    def _forget_cache(self) -> None:
        llama_cpp.llama_memory_clear(self._memory, True)
        self._cached = []

    def _reuse_prefix(self, prompt: Sequence[int], limit: int | None = None) -> int:
        """Keep the longest cached prefix of `prompt` (at most `limit` tokens); return how many
        tokens it covers."""
        common = 0
        for a, b in zip(self._cached, prompt):
            if a != b or (limit is not None and common >= limit):
                break
            common += 1
        if common == len(prompt):
            common -= 1  # the last prompt token must be evaluated again to get its logits
        if common <= 0:
            self._forget_cache()
            return 0
        # With a sliding-window cache that is not full size (swa_full off), positions older
        # than the window are gone; rewinding to `common` needs the window before it intact.
        n_swa = llama_cpp.llama_model_n_swa(self._model)
        if n_swa > 0 and llama_cpp.llama_memory_seq_pos_min(self._memory, 0) > max(0, common - n_swa):
            self._forget_cache()
            return 0
        if not llama_cpp.llama_memory_seq_rm(self._memory, 0, common, -1):
            self._forget_cache()  # this cache cannot cut there: evaluate from scratch
            return 0
        del self._cached[common:]
        return common
