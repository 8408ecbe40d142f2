"""Speculative decoding by prompt lookup: drafts from the text already there, verified in one batch.

Decoding one token reads every weight once, so it is bound by memory bandwidth; a batch of a
few tokens costs little more than one. When the answer repeats text that is already in the
context (rewriting a document, editing code, quoting), the tokens that followed the last few
tokens' previous occurrence are a good guess for what comes next. We evaluate the last token
and such a draft in one batch, sample every position in order with the ordinary sampler chain,
and keep the draft up to the first position where the sample differs; that sample is the next
token. Nothing else changes:

- Greedy: every kept token is the argmax given exactly the tokens before it, as without drafts.
- Temperature > 0: a lookup draft is a point mass q(d) = 1, and speculative sampling's rule
  (accept d with probability min(1, p(d)/q(d)) = p(d), else sample from max(0, p − q) renormalised,
  which is p without d) gives each token the model's own distribution p. Drawing x ~ p and
  keeping d when x = d is that same rule: P(d) = p(d), P(y ≠ d) = p(y). The chain draws one
  random number per token it keeps (llama.cpp's backend sampler commits a draw only when the
  token is accepted), so a seeded run gives the same tokens with drafts as without.
- The KV cache keeps the last token and the accepted drafts; the rest is removed
  (llama_memory_seq_rm), so `Engine._cached` stays the cache's exact contents.

Drafting switches itself off for a while when too few drafted tokens are accepted (a batch
costs more than one token: on a mixture-of-experts model each drafted token may need other
experts), and tries again later.
"""

from __future__ import annotations

import ctypes
from collections import deque
from dataclasses import dataclass
from typing import Sequence

import llama_cpp
import numpy as np

_BITS = 21  # per token in an n-gram key: ids below 2M, three of them fit an int64


@dataclass(frozen=True)
class SpeculativeOptions:
    # Drafted tokens per verifying batch, at most. Measured on an H200 with gpt-oss-20b's
    # shapes, a batch of 1 + k costs 1.19, 1.45, 1.81, 2.14, 2.70 (k = 6) and then 4.02 (k = 8)
    # single steps: each drafted token may need other experts, and past 8 tokens CUDA switches
    # to another matrix kernel. The length actually drafted follows the acceptance (below).
    max_draft: int = 6
    ngram_max: int = 3  # the longest n-gram looked up first, then shorter ones
    ngram_min: int = 2
    # Below this share of drafted tokens accepted (over the last `window` drafted tokens),
    # drafting pauses for `pause` generated tokens, doubling up to `pause_max` while it fails.
    min_acceptance: float = 0.3
    window: int = 24
    pause: int = 32
    pause_max: int = 1024
    # Draft when the model runs on the CPU too. Off by default: there a check of 1 + 6 tokens
    # cost 4.3 single steps (SmolLM2, 2 cores), drafts sped a copy task up by a third but a
    # task with little to copy lost 7-11% (tests/benchmarks/bench_peer_cpu.py).
    on_cpu: bool = False


def _keys(tokens: np.ndarray, n: int) -> np.ndarray:
    """The key of every n-gram in `tokens`, ending at positions n-1 … len-1."""
    key = np.zeros(len(tokens) - n + 1, dtype=np.int64)
    for j in range(n):
        key = (key << _BITS) | (tokens[j:len(tokens) - n + 1 + j] & ((1 << _BITS) - 1))
    return key


def _key(tokens: Sequence[int]) -> int:
    key = 0
    for t in tokens:
        key = (key << _BITS) | (t & ((1 << _BITS) - 1))
    return key


class PromptLookup:
    """Drafts the tokens that followed the latest earlier occurrence of the last n tokens.

    Each index maps an n-gram to where its latest occurrence ends, for n-grams ending before
    the last token, so the current tail finds an earlier occurrence, never itself.
    """

    def __init__(self, tokens: Sequence[int], ngram_max: int = 3, ngram_min: int = 2) -> None:
        self.tokens = list(tokens)
        self._sizes = range(ngram_max, ngram_min - 1, -1)
        arr = np.asarray(self.tokens, dtype=np.int64)
        self._index: dict[int, dict[int, int]] = {}
        for n in self._sizes:
            if len(arr) > n:
                keys = _keys(arr, n)[:-1]  # not the n-gram ending at the last token
                self._index[n] = dict(zip(keys.tolist(), range(n - 1, len(arr) - 1)))
            else:
                self._index[n] = {}

    def append(self, token: int) -> None:
        tokens = self.tokens
        tokens.append(token)
        end = len(tokens) - 2  # the n-grams ending at the previous last token become findable
        for n in self._sizes:
            if end >= n - 1:
                self._index[n][_key(tokens[end - n + 1:end + 1])] = end

    def draft(self, limit: int) -> list[int]:
        tokens = self.tokens
        for n in self._sizes:
            if len(tokens) < n:
                continue
            end = self._index[n].get(_key(tokens[-n:]))
            if end is not None:
                return tokens[end + 1:end + 1 + limit]
        return []


class Speculator:
    """One generation's drafter and its switch: when to draft, and what came of it."""

    def __init__(self, prompt: Sequence[int], options: SpeculativeOptions) -> None:
        self.options = options
        self.lookup = PromptLookup(prompt, options.ngram_max, options.ngram_min)
        self.drafted = self.accepted = self.batches = 0
        self._recent: deque[tuple[int, int]] = deque()
        self._recent_drafted = self._recent_accepted = 0
        self._pause_left = 0
        self._pause = options.pause
        # Per-token acceptance, estimated as accepted / (accepted + rejections) over recent
        # batches (a geometric run's estimate: tokens after a rejection say nothing); the
        # prior, 3 accepted to 1 rejected, makes the first drafts 3 long.
        self._accepted_recent, self._rejected_recent = 3.0, 1.0

    @property
    def draft_length(self) -> int:
        """A run of tokens accepted with probability a each is a/(1-a) long on average: draft
        about that many (1 at a = 0.5, 3 at 0.75, 6 at 0.86): by the H200's cost per batch
        (see max_draft), close to the best fixed length for each a."""
        a = self._accepted_recent / (self._accepted_recent + self._rejected_recent)
        a = min(a, 0.95)
        return max(1, min(self.options.max_draft, round(a / (1 - a))))

    def draft(self, limit: int) -> list[int]:
        """What to verify after the last token (empty: decode it alone)."""
        if self._pause_left > 0:
            self._pause_left -= 1
            return []
        return self.lookup.draft(min(limit, self.draft_length))

    def decided(self, tokens: Sequence[int]) -> None:
        for t in tokens:
            self.lookup.append(t)

    def verified(self, drafted: int, accepted: int) -> None:
        self.drafted += drafted
        self.accepted += accepted
        self.batches += 1
        self._accepted_recent = 0.8 * self._accepted_recent + accepted
        self._rejected_recent = 0.8 * self._rejected_recent + (accepted < drafted)
        self._recent.append((drafted, accepted))
        self._recent_drafted += drafted
        self._recent_accepted += accepted
        while self._recent_drafted - self._recent[0][0] >= self.options.window:
            d, a = self._recent.popleft()
            self._recent_drafted -= d
            self._recent_accepted -= a
        if self._recent_drafted < self.options.window:
            return
        if self._recent_accepted < self.options.min_acceptance * self._recent_drafted:
            self._pause_left = self._pause
            self._pause = min(2 * self._pause, self.options.pause_max)
            self._recent.clear()
            self._recent_drafted = self._recent_accepted = 0
        else:
            self._pause = self.options.pause


class VerifyBatch:
    """A llama_batch whose every token asks for its output (logits, or the backend's sample)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._batch = llama_cpp.llama_batch_init(capacity, 0, 1)
        b = self._batch
        for i in range(capacity):
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1

    def fill(self, tokens: Sequence[int], first_pos: int):
        b = self._batch
        n = len(tokens)
        ctypes.memmove(b.token, (llama_cpp.llama_token * n)(*tokens), n * ctypes.sizeof(llama_cpp.llama_token))
        ctypes.memmove(b.pos, (llama_cpp.llama_pos * n)(*range(first_pos, first_pos + n)),
                       n * ctypes.sizeof(llama_cpp.llama_pos))
        b.n_tokens = n
        return b

    def free(self) -> None:
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None


def next_tokens(engine, chain, spec: Speculator | None, last: int | None) -> list[int]:
    """Engine.generate's next token(s): `last` (None after the prompt) is evaluated, alone or
    followed by a draft; the draft is kept up to the first position where the sampler
    disagrees, and the rest leaves the KV cache."""
    if last is None:
        tokens = [chain.sample(engine._ctx)]
    else:
        room = min(engine.n_ctx - len(engine._cached), engine.n_batch) - 1
        draft = spec.draft(room) if spec is not None and room > 0 else []
        if not draft:
            engine._decode([last])
            tokens = [chain.sample(engine._ctx)]
        else:
            kept = len(engine._cached) + 1
            engine._decode_all([last, *draft])
            tokens = []
            for i, guess in enumerate(draft):
                token = chain.sample(engine._ctx, i)
                tokens.append(token)
                if token != guess:
                    break
            else:
                tokens.append(chain.sample(engine._ctx, len(draft)))
            accepted = len(tokens) - 1
            engine._truncate_cache(kept + accepted)
            spec.verified(len(draft), accepted)
    if spec is not None:
        spec.decided(tokens)
    return tokens
