"""Cut extracted units into chunks of about 300–500 tokens for search and for the prompt.

A chunk never crosses a unit boundary, so it stays on one PDF page or in one section and
its citation is exact; text and code chunks narrow their unit's line range.  Inside a
unit a chunk ends at the last paragraph break in its allowed window, else the last line
break, sentence end or space, and only as a last resort mid-word.  Consecutive chunks of
one unit overlap by up to a sentence or a line (about 50 tokens), so a fact cut in two
is still whole in one of them; ``Chunk.overlap`` says how much, so the whole document
can be shown without repeats.

Token counts here are the cheap estimate (characters / 4): the model's tokenizer is not
loaded in storage; the context plan recounts what it uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.units import CHARS_PER_TOKEN, estimate_tokens

from .units import Extracted, Location, Unit

MIN_TOKENS = 300
MAX_TOKENS = 500
OVERLAP_TOKENS = 50
_BREAKS = (  # preferred places to end a chunk, best first
    re.compile(r"\n[ \t]*\n"),  # paragraph
    re.compile(r"\n"),  # line
    re.compile(r"[.!?。！？][\"')\]]*\s"),  # sentence
    re.compile(r"\s"),  # word
)
_SEAM = re.compile(r"\n|[.!?。！？][\"')\]]*\s")  # where an overlap may begin


@dataclass(frozen=True)
class Chunk:
    seq: int  # 0-based, in document order
    text: str
    location: Location
    approx_tokens: int
    # Leading characters of ``text`` that repeat what the previous chunk showed (its
    # tail, or a CSV's header): drop them when both are shown one after the other.
    overlap: int = 0


def chunk(extracted: Extracted, *, min_tokens: int = MIN_TOKENS, max_tokens: int = MAX_TOKENS,
          overlap_tokens: int = OVERLAP_TOKENS) -> list[Chunk]:
    if not 0 < min_tokens <= max_tokens or overlap_tokens < 0:
        raise ValueError("need 0 < min_tokens <= max_tokens and overlap_tokens >= 0")
    chunks: list[Chunk] = []
    for unit in extracted.units:
        for text, location, overlap in _cut_unit(unit, min_tokens, max_tokens, overlap_tokens):
            chunks.append(Chunk(len(chunks), text, location, estimate_tokens(text), overlap))
    return chunks


def _cut_unit(unit: Unit, min_tokens: int, max_tokens: int, overlap_tokens: int):
    """Yield (text, location, overlap) for each chunk of one unit."""
    text = unit.text
    prefix = f"{unit.header}\n" if unit.header else ""
    max_chars = max(max_tokens * CHARS_PER_TOKEN - len(prefix), max_tokens * CHARS_PER_TOKEN // 2)
    min_chars = min(min_tokens * CHARS_PER_TOKEN, max_chars)
    # A CSV header already gives each chunk its context; repeating rows would skew counts.
    overlap_chars = 0 if prefix else overlap_tokens * CHARS_PER_TOKEN
    span = unit.location.span
    lines = _LineCounter(text, span[0]) if span else None
    start, previous_end = _skip_space(text, 0, len(text)), None
    while start < len(text):
        cut = _cut(text, start, min_chars, max_chars)
        first, last = start, _trim_end(text, start, cut)
        overlap = 0
        if previous_end is not None:
            overlap = len(unit.header) if prefix else max(0, previous_end - first)
        location = unit.location
        if lines is not None:
            location = location.narrowed(lines.line_at(first), lines.line_at(last - 1))
        yield prefix + text[first:last], location, overlap
        previous_end = last
        start = _skip_space(text, _next_start(text, start, cut, overlap_chars), len(text))


def _cut(text: str, start: int, min_chars: int, max_chars: int) -> int:
    """Where the chunk starting at ``start`` ends (exclusive)."""
    hard = start + max_chars
    if hard >= len(text):
        return len(text)
    for level, pattern in enumerate(_BREAKS):
        # Paragraph, line and sentence breaks are used only past min_chars; a word
        # break anywhere rather than cutting a word.
        low = start + (min_chars if level < len(_BREAKS) - 1 else 1)
        best = None
        for match in pattern.finditer(text, low, hard):
            best = match.end()
        if best is not None:
            return best
    return hard


def _next_start(text: str, start: int, cut: int, overlap_chars: int) -> int:
    """The next chunk's start: the earliest line or sentence start within the last
    ``overlap_chars`` of this chunk, or the cut itself when there is none."""
    if overlap_chars and cut < len(text):
        seam = _SEAM.search(text, max(start + 1, cut - overlap_chars), cut)
        if seam is not None and seam.end() < cut:
            return seam.end()
    return cut


def _skip_space(text: str, position: int, end: int) -> int:
    while position < end and text[position].isspace():
        position += 1
    return position


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


class _LineCounter:
    """Line (or row) number of a position, for positions that never move backwards by
    more than one overlap: counts newlines incrementally, linear in the text overall."""

    def __init__(self, text: str, first_line: int) -> None:
        self._text = text
        self._position = 0
        self._line = first_line

    def line_at(self, position: int) -> int:
        if position >= self._position:
            self._line += self._text.count("\n", self._position, position)
        else:
            self._line -= self._text.count("\n", position, self._position)
        self._position = position
        return self._line
