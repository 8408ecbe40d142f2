"""Tokenizing a rendered Prompt by its segments, and text that must stay text.

llama.cpp's `special=False` is not enough to keep a pasted `<|end|>` from becoming the control
token: for gpt-oss it marks `<|start|>`, `<|channel|>`, `<|message|>`, `<|constrain|>` and
`<|end|>` USER_DEFINED (llama-vocab.cpp, "quick hack for gpt-oss"), and user-defined tokens
are matched in any text. So plain text is cut just before the `|>` of everything shaped like
a marker and the pieces are tokenized apart. The cut falls where the tokenizer's own
pre-splitting cuts anyway (between a letter or digit and `|`; GPT-4o's and most BPE
pre-tokenizers split there), so text without markers gets the same tokens as before, and a
marker's characters get the tokens harmony's `encode_ordinary` gives them.
"""

from __future__ import annotations

import re
from typing import Callable

from .harmony_render import Prompt, Segment

# `<|name|>` with a name ending in a letter or digit: every harmony marker has that shape.
_MARKER_SHAPED = re.compile(r"<\|[A-Za-z0-9_]*[A-Za-z0-9](?=\|>)")

RawTokenize = Callable[[str, bool, bool], list]  # (text, special, add_bos) -> tokens

# llama.cpp's pre-tokenizer regex recurses once per character of a run it matches: 30,000
# "x" in a row overflow an 8 MB stack (a segfault), 2,000 a 512 KB one (macOS's threads).
# Runs longer than this are cut into pieces of this size before they reach it; only text
# that long without a break tokenizes (slightly) differently.
RUN_LIMIT = 256
_LONG_RUN = re.compile(r"\S{%d,}|\s{%d,}" % (RUN_LIMIT + 1, RUN_LIMIT + 1))
_MARKER = re.compile(r"<\|[^|\s]{1,64}\|>")


def bounded_pieces(text: str, special: bool = False) -> list[str]:
    """`text` cut so that no piece holds a run of more than RUN_LIMIT characters without a
    break (never inside a `<|marker|>` when `special`)."""
    if len(text) <= RUN_LIMIT:
        return [text]
    cuts = []
    for run in _LONG_RUN.finditer(text):
        cuts.extend(range(run.start() + RUN_LIMIT, run.end(), RUN_LIMIT))
    if not cuts:
        return [text]
    if special:
        spans = [m.span() for m in _MARKER.finditer(text)]
        cuts = sorted({next((end for start, end in spans if start < c < end), c) for c in cuts})
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def plain_pieces(text: str) -> list[str]:
    """`text` cut just before each `|>` that closes something shaped like a marker."""
    cuts = [m.end() for m in _MARKER_SHAPED.finditer(text)]
    if not cuts:
        return [text]
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def tokenize_plain(raw: RawTokenize, text: str, add_bos: bool = False) -> list:
    """`text` as text: no control token can come out of it."""
    tokens: list = []
    for i, piece in enumerate(plain_pieces(text)):
        tokens += raw(piece, False, add_bos and i == 0)
    return tokens


class PromptTokenizer:
    """Tokens of a Prompt, message by message, each message's tokens cached: a follow-up
    turn tokenizes only its new messages."""

    def __init__(self, raw: RawTokenize, bos: int | None, cache_size: int = 4096) -> None:
        self._raw = raw
        self._bos = bos
        self._markers: dict[str, tuple] = {}
        self._cache: dict[tuple[Segment, ...], tuple] = {}
        self._cache_size = cache_size

    def __call__(self, prompt: Prompt, add_bos: bool) -> list:
        tokens = [self._bos] if add_bos and self._bos is not None else []
        for message in prompt.messages():
            cached = self._cache.get(message)
            if cached is None:
                cached = self._cache[message] = tuple(self._message(message))
                if len(self._cache) > self._cache_size:  # forget the oldest
                    del self._cache[next(iter(self._cache))]
            tokens += cached
        return tokens

    def _message(self, segments: tuple[Segment, ...]) -> list:
        tokens: list = []
        for text, marker in segments:
            if marker:
                ids = self._markers.get(text)
                if ids is None:
                    ids = self._markers[text] = tuple(self._raw(text, True, False))
                tokens += ids
            else:
                tokens += tokenize_plain(self._raw, text)
        return tokens
