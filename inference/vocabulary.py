"""Text to tokens and back for a loaded model: the vocabulary half of the Engine.

A mixin: Engine (inference/runtime.py) sets `_vocab`, `path`, `_add_bos`, `_message_marker`,
`_piece_tokens`, `_prompt_tokens`, `_pieces` and `_eog` when it loads, and these methods use them.
"""

from __future__ import annotations

import ctypes
from typing import Sequence

import llama_cpp

from common.text import display_name

from .harmony_render import Prompt
from .load_options import ModelLoadError
from .prompt_tokens import bounded_pieces, tokenize_plain


class Vocabulary:
    def _refuse_missing_special_tokens(self) -> None:
        """A vocabulary set to add a start (or end, or separator) token it does not have makes
        llama-vocab.cpp's tokenizer GGML_ASSERT on the first text: refuse it at load if it adds
        them by default, else never ask llama.cpp to add them (llama_vocab::impl::tokenize)."""
        vocab, kind = self._vocab, llama_cpp.llama_vocab_type(self._vocab)
        needed = {}
        if kind == llama_cpp.LLAMA_VOCAB_TYPE_WPM:
            needed = {"start-of-text": llama_cpp.llama_vocab_bos(vocab),
                      "separator": llama_cpp.llama_vocab_sep(vocab)}
        elif kind in (llama_cpp.LLAMA_VOCAB_TYPE_SPM, llama_cpp.LLAMA_VOCAB_TYPE_BPE,
                      llama_cpp.LLAMA_VOCAB_TYPE_UGM):
            if self._add_bos:
                needed["start-of-text"] = llama_cpp.llama_vocab_bos(vocab)
            if llama_cpp.llama_vocab_get_add_eos(vocab):
                needed["end-of-text"] = llama_cpp.llama_vocab_eos(vocab)
        missing = [what for what, token in needed.items() if token == llama_cpp.LLAMA_TOKEN_NULL]
        self._can_add_special = not missing
        if missing and self._add_bos:
            raise ModelLoadError(f"{display_name(self.path)} cannot be used: its tokenizer is set "
                                 f"to add a {missing[0]} token that its vocabulary does not have.")


    def tokenize(self, text: str, *, special: bool = True, add_bos: bool | None = None) -> list[int]:
        """Text to tokens. `special`: parse control-token text such as `<|start|>` as tokens;
        False: every character stays text (inference/prompt_tokens.py says why that takes more
        than llama.cpp's own flag). A rendered harmony Prompt is tokenized by its segments:
        its markers become control tokens, everything else is text.

        A rendered chat is tokenized message by message, each message's tokens cached: a
        follow-up turn re-tokenizes only its new messages. llama.cpp compiles its splitting
        regex again for every stretch between special tokens (about 0.45 ms each), which made
        an 8k-token gpt-oss history cost 58 ms to tokenize on every turn. Special tokens are
        matched whole, so cutting just before a message-start marker gives the same tokens.
        """
        add = (self._add_bos if add_bos is None else add_bos) and self._can_add_special
        if not special:
            return tokenize_plain(self._tokenize, text, add)
        if isinstance(text, Prompt):
            return self._prompt_tokens(text, add)
        marker = self._message_marker
        if marker is None or len(text) < 4096 or text.count(marker) < 2:
            return self._tokenize(text, special, add)
        cut = text.split(marker)
        pieces = [cut[0]] + [marker + rest for rest in cut[1:]]
        tokens: list[int] = []
        for i, piece in enumerate(p for p in pieces if p):
            tokens += self._tokenize_piece(piece, add and i == 0)
        return tokens

    def _tokenize_piece(self, piece: str, add_bos: bool) -> list[int]:
        key = (piece, add_bos)
        cached = self._piece_tokens.get(key)
        if cached is None:
            cached = self._piece_tokens[key] = tuple(self._tokenize(piece, True, add_bos))
            if len(self._piece_tokens) > 4096:  # forget the oldest (dicts keep insertion order)
                del self._piece_tokens[next(iter(self._piece_tokens))]
        return list(cached)

    def _tokenize(self, text: str, special: bool, add: bool) -> list[int]:
        pieces = bounded_pieces(text, special)
        if len(pieces) > 1:  # a long run of one kind of character (see prompt_tokens.py)
            tokens: list[int] = []
            for i, piece in enumerate(pieces):
                tokens += self._tokenize(piece, special, add and i == 0)
            return tokens
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, add, special)
        if n < 0:
            n_max = -n
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, add, special)
        tokens = list(buf[:n])
        if tokens and min(tokens) < 0:  # RWKV's tokenizer gives -1 for text it has no token for
            raise ModelLoadError(f"{display_name(self.path)} cannot read this text: its "
                                 "vocabulary has no token for part of it.")
        bos = llama_cpp.llama_vocab_bos(self._vocab)
        if len(tokens) >= 2 and tokens[0] == tokens[1] == bos:
            tokens.pop(0)  # the template wrote {{ bos_token }} and the tokenizer added one too
        return tokens

    def _raw_piece(self, token: int, special: bool) -> bytes:
        size = 64
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, size, 0, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n  # the piece is longer than the buffer: llama.cpp says how long

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._raw_piece(token, True).decode("utf-8", errors="replace")

    def piece(self, token: int) -> tuple[bytes, bool]:
        """(bytes, is_special) for one token, cached: called once per generated token."""
        cached = self._pieces.get(token)
        if cached is None:
            attr = llama_cpp.llama_vocab_get_attr(self._vocab, token)
            raw = self._raw_piece(token, True)
            special = bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL) or (
                bool(attr & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED)
                and raw.startswith(b"<") and raw.endswith(b">"))
            cached = self._pieces[token] = (raw, special)
        return cached

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.piece(t)[0] for t in tokens).decode("utf-8", errors="replace")

    def is_eog(self, token: int) -> bool:
        eog = self._eog.get(token)  # cached: asked once per generated token
        if eog is None:
            eog = self._eog[token] = bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))
        return eog
