"""A grammar applied the way llama.cpp's own tools apply it: check the sampled token first.

llama.cpp's grammar sampler tests every token of the vocabulary against the grammar on every
step; with a JSON schema's grammar on SmolLM2's 49k tokens that cost about a second a token on
this 2-core machine, far more than the model. common/sampling.cpp (llama-cli, llama-server)
samples without the grammar first and asks it about that one token; only when the grammar
refuses it are all candidates filtered and the token drawn again. Greedy answers come out the
same either way (the best token the grammar allows); with temperature the draw is from the
same allowed tokens, as in llama.cpp's tools.
"""

from __future__ import annotations

import ctypes
import math

import llama_cpp
import numpy as np

_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)


class GrammarRefusedAll(RuntimeError):
    """The grammar allows no token at all here (accepting one would abort llama.cpp)."""


class GrammarGate:
    """Owns one llama.cpp grammar sampler for one sequence."""

    def __init__(self, grammar: str, vocab, n_vocab: int) -> None:
        self.ptr = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
        if not self.ptr:
            raise ValueError("The grammar does not parse.")
        self._n_vocab = n_vocab
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(
            data=self._one, size=1, selected=-1, sorted=False)
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)

    def allows(self, token: int) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 0.0, 0.0
        self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(self.ptr, ctypes.byref(self._one_array))
        return not math.isinf(self._one[0].logit)

    def constrained(self, ctx, index: int, chain) -> int:
        """Draw again from the logits at batch `index`, the grammar first, then `chain`."""
        logits = llama_cpp.llama_get_logits_ith(ctx, index)
        self._all["id"] = self._ids
        self._all["logit"] = np.ctypeslib.as_array(logits, shape=(self._n_vocab,))
        self._all["p"] = 0.0
        data = self._all.ctypes.data_as(llama_cpp.llama_token_data_p)
        array = llama_cpp.llama_token_data_array(data=data, size=self._n_vocab, selected=-1,
                                                 sorted=False)
        llama_cpp.llama_sampler_apply(self.ptr, ctypes.byref(array))
        if not np.isfinite(self._all["logit"][:array.size]).any():
            raise GrammarRefusedAll("The grammar allows no next token.")
        llama_cpp.llama_sampler_apply(chain, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise GrammarRefusedAll("The grammar allows no next token.")
        return int(array.data[array.selected].id)

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.ptr, token)

    def free(self) -> None:
        if self.ptr:
            llama_cpp.llama_sampler_free(self.ptr)
            self.ptr = None
