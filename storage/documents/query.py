"""What a person or the model typed, as FTS5 queries over the document chunks.

Two readings of the same text:

* ``"all"`` (a person's search box, ``hearth search``): every word must match, each as a
  prefix ("budg" finds "budget"); "quoted words" match as a phrase.
* ``"any"`` (a question, the model's query): any distinctive word may match (stop words
  dropped) and BM25 ranks the passages holding more, and rarer, of them first; "quoted
  words" still match only as a phrase, and ``word*`` as a prefix.

Everything is quoted before FTS5 sees it, so its syntax (AND, NEAR, ``:``, parentheses) in
the text is matched as text, never parsed.  Chinese and Japanese words go to the pair index
(:mod:`storage.documents.cjk`), which also holds the other words of those chunks, so a query
mixing both scripts matches there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from . import cjk

Mode = Literal["all", "any"]
MAX_QUERY_TERMS = 32
# Words too common to say which passage answers a question.  BM25 already weighs them
# down, but each still adds a little to every passage holding it.
STOPWORDS = frozenset("""
a about after all also am an and any are as at be been before but by can could did do
does doing for from had has have he her here hers him his how i if in into is it its me
more most my no nor not of on or our out over she should so some such than that the their
them then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your
""".split())
_TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')  # a phrase (an unclosed one runs to the end), a word


@dataclass(frozen=True)
class ChunkQuery:
    """FTS5 MATCH expressions: ``main`` for ``document_chunks_fts``, ``cjk`` for
    ``document_chunks_cjk`` ('' where that index has nothing to look for), and the words a
    snippet highlights."""

    main: str
    cjk: str
    highlight: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.main or self.cjk)


def _quoted(text: str, prefix: bool = False) -> str:
    return '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")


def parse(text: str, mode: Mode = "any") -> ChunkQuery:
    """The queries for ``text`` (see the module's docstring); falsy when nothing is left."""
    # Lone surrogates (invalid UTF-16 from a widget) cannot be bound; NUL ends C strings.
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")
    main: list[str] = []  # FTS5 terms over the words outside Chinese/Japanese runs
    pair: list[str] = []  # the same over the pair index, CJK words included
    highlight: list[str] = []
    seen: set[str] = set()

    def add(term: str, *, cjk_only: bool = False) -> None:
        if term not in seen and len(seen) < MAX_QUERY_TERMS:
            seen.add(term)
            pair.append(term)
            if not cjk_only:
                main.append(term)

    for match in _TOKEN.finditer(text):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            phrase = " ".join(phrase.split())
            if not phrase:
                continue
            highlight.extend(phrase.split())
            if cjk.has_cjk(phrase):
                add(_quoted(" ".join(cjk.segment(phrase).split())), cjk_only=True)
            else:
                add(_quoted(phrase))
            continue
        prefix = mode == "all" or word.endswith("*")
        for run, single in cjk.query_terms(word):
            if mode == "any" and not prefix:  # a question: any of its pairs, BM25 ranks
                for piece in run.split():
                    add(_quoted(piece, prefix=len(piece) == 1), cjk_only=True)
            else:  # a word typed to find: the phrase of its pairs
                add(_quoted(run, prefix=single), cjk_only=True)
        highlight.extend(cjk.CJK_RUN.findall(word))
        for part in re.findall(r"\w+", cjk.CJK_RUN.sub(" ", word).lower()):
            if mode == "any" and not prefix and (
                    part in STOPWORDS or (len(part) < 2 and not part.isdigit())):
                continue
            highlight.append(part)
            add(_quoted(part, prefix=prefix))
    joiner = " " if mode == "all" else " OR "
    has_cjk_terms = len(pair) > len(main)
    if mode == "all" and has_cjk_terms:
        main = []  # every word must match: only chunks with CJK text can
    return ChunkQuery(joiner.join(main), joiner.join(pair) if has_cjk_terms else "",
                      tuple(dict.fromkeys(h.lower() for h in highlight)))


def question_expression(question: str) -> str:
    """The FTS5 expression over ``document_chunks_fts`` for a question: any of its
    distinctive words (kept for callers of the older API)."""
    return parse(question, "any").main


def ranked(db, query: ChunkQuery, scope: str, params: dict, limit: int
           ) -> list[tuple[int, float]]:
    """(chunk id, BM25 score: higher is better) of the chunks matching ``query`` for which
    the SQL condition ``scope`` holds (over ``c``, the ``document_chunks`` row; its named
    parameters in ``params``), best first.  Matches from the pair index are merged in,
    each chunk with its better score."""
    if not query or limit <= 0:
        return []
    found: dict[int, float] = {}
    for table, expression in (("document_chunks_fts", query.main),
                              ("document_chunks_cjk", query.cjk)):
        if not expression:
            continue
        rows = db.execute(
            f"SELECT c.id, -bm25({table}) AS score FROM {table}"
            f" JOIN document_chunks AS c ON c.id = {table}.rowid"
            f" WHERE {table} MATCH :expression AND ({scope})"
            " ORDER BY score DESC, c.id LIMIT :limit",
            {**params, "expression": expression, "limit": int(limit)}).fetchall()
        for chunk_id, score in rows:
            found[chunk_id] = max(score, found.get(chunk_id, float("-inf")))
    return sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit]
