"""Chinese and Japanese text split into searchable pieces: overlapping character pairs.

FTS5's unicode61 tokenizer splits words at spaces and punctuation; Chinese and Japanese
write none between words, so a whole sentence became one token and a query for a word in
it matched nothing (questions then fell back to a document's start).  Chunks holding such
text get a second entry in ``document_chunks_cjk`` where each run of ideographs or kana is
written as its overlapping pairs ("预算报告" → "预算 算报 报告"), as Lucene's CJK analyzer
does: a query word becomes the phrase of its pairs, which matches wherever the word
occurs.  A pair index needs no dictionary and finds two-character words, the commonest
kind, which FTS5's trigram tokenizer cannot (docs/performance.md has the comparison).
Korean writes spaces between words, so Hangul is left to unicode61.
"""

from __future__ import annotations

import re

# Han ideographs (with extension A, compatibility ideographs and the supplementary planes),
# hiragana, katakana (with the phonetic extensions and half-width forms), the iteration marks.
_CJK = ("\u3005\u3007\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
        "\uff66-\uff9f\U00020000-\U0003134f")
CJK_RUN = re.compile(f"[{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")


def has_cjk(text: str) -> bool:
    return _HAS_CJK.search(text) is not None


def pairs(run: str) -> list[str]:
    """A run of CJK characters as its overlapping pairs; a single character stays whole."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i:i + 2] for i in range(len(run) - 1)]


def segment(text: str) -> str:
    """``text`` with every CJK run replaced by its pairs, space-separated; the rest as is.
    This is what ``document_chunks_cjk`` indexes."""
    return CJK_RUN.sub(lambda m: " " + " ".join(pairs(m.group())) + " ", text)


def query_terms(text: str) -> list[tuple[str, bool]]:
    """The CJK words of a query as FTS5 terms: (the quoted phrase of a word's pairs, is it
    a prefix).  A one-character word matches as a prefix: every pair starting with it."""
    terms = []
    for match in CJK_RUN.finditer(text):
        run = match.group()
        terms.append((" ".join(pairs(run)), len(run) == 1))
    return terms
