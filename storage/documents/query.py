"""What a person or the model typed, as FTS5 queries over the document chunks.

Two readings of the same text:

* ``"all"`` (a person's search box, ``hearth search``): every word must match, each of
  three letters or more as a prefix ("budg" finds "budget"); "quoted words" match as a
  phrase; stop words ("the", "of") are left out unless nothing else was typed.
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
PREFIX_MIN = 3  # shorter words are matched whole, never as a prefix
BROAD = 2000  # a query matching more passages than this is ranked among its newest BROAD
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
    """What to look for: FTS5 terms (quoted phrases, some with ``*``) for
    ``document_chunks_fts`` and for ``document_chunks_cjk`` (empty where that index has
    nothing to look for), how they combine, and the words a snippet highlights."""

    mode: Mode
    main_terms: tuple[str, ...]
    cjk_terms: tuple[str, ...]
    highlight: tuple[str, ...]

    @property
    def joiner(self) -> str:
        return " " if self.mode == "all" else " OR "

    @property
    def main(self) -> str:
        """The MATCH expression over ``document_chunks_fts``."""
        return self.joiner.join(self.main_terms)

    @property
    def cjk(self) -> str:
        return self.joiner.join(self.cjk_terms)

    def __bool__(self) -> bool:
        return bool(self.main_terms or self.cjk_terms)


def _quoted(text: str, prefix: bool = False) -> str:
    return '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")


def parse(text: str, mode: Mode = "any") -> ChunkQuery:
    """The queries for ``text`` (see the module's docstring); falsy when nothing is left."""
    # Lone surrogates (invalid UTF-16 from a widget) cannot be bound; NUL ends C strings.
    text = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")
    main: list[str] = []  # FTS5 terms over the words outside Chinese/Japanese runs
    pair: list[str] = []  # the same over the pair index, CJK words included
    highlight: list[str] = []
    stop: list[str] = []  # stop words typed in a search box, left out if others remain
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
        starred = word.endswith("*")
        for run, single in cjk.query_terms(word):
            if mode == "any" and not starred:  # a question: any of its pairs, BM25 ranks
                for piece in run.split():
                    add(_quoted(piece, prefix=len(piece) == 1), cjk_only=True)
            else:  # a word typed to find: the phrase of its pairs
                add(_quoted(run, prefix=single), cjk_only=True)
        highlight.extend(cjk.CJK_RUN.findall(word))
        for part in re.findall(r"\w+", cjk.CJK_RUN.sub(" ", word).lower()):
            if mode == "any" and not starred and (
                    part in STOPWORDS or (len(part) < 2 and not part.isdigit())):
                continue
            if mode == "all" and part in STOPWORDS and not starred:
                stop.append(part)  # "the budget": only if nothing else is left
                continue
            highlight.append(part)
            # A prefix of one or two letters expands to thousands of words: FTS5 merges
            # them all (0.2 s over 86,000 passages), so short words match whole.
            add(_quoted(part, prefix=(mode == "all" or starred) and len(part) >= PREFIX_MIN))
    if not pair:  # only stop words were typed: look for them after all
        for part in stop:
            add(_quoted(part, prefix=len(part) >= PREFIX_MIN))
    has_cjk_terms = len(pair) > len(main)
    if mode == "all" and has_cjk_terms:
        main = []  # every word must match: only chunks with CJK text can
    return ChunkQuery(mode, tuple(main), tuple(pair) if has_cjk_terms else (),
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
    each chunk with its better score.

    FTS5's bm25() first counts the passages holding each term, reading the term's whole
    list: 40 ms for a word in a million passages, paid by every query naming it.  So each
    term is first counted up to BROAD (under a millisecond), and passages are ranked on the
    narrower terms alone: a question ("any") looks for those; a search box's words ("all")
    must all be there, and the narrower ones rank the passages that hold them all.  A
    query with nothing narrower to rank by (every word everywhere) lists its newest matches,
    unranked (score 0)."""
    if not query or limit <= 0:
        return []
    found: dict[int, float] = {}
    for table, terms in (("document_chunks_fts", query.main_terms),
                         ("document_chunks_cjk", query.cjk_terms)):
        if terms:
            for chunk_id, score in _ranked_in(db, table, terms, query.joiner, scope, params,
                                              limit):
                found[chunk_id] = max(score, found.get(chunk_id, float("-inf")))
    return sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _count(db, table: str, expression: str) -> int:
    """Matches of ``expression``, counted up to BROAD + 1."""
    return db.execute(f"SELECT COUNT(*) FROM (SELECT rowid FROM {table} WHERE {table} MATCH ?"
                      f" LIMIT {BROAD + 1})", (expression,)).fetchone()[0]


def _ranked_in(db, table: str, terms: tuple[str, ...], joiner: str, scope: str, params: dict,
               limit: int) -> list[tuple[int, float]]:
    narrow = [t for t in terms if _count(db, table, t) <= BROAD]
    join = (f"FROM {table} JOIN document_chunks AS c ON c.id = {table}.rowid"
            f" WHERE {table} MATCH :expression AND ({scope})")
    values = {**params, "limit": int(limit)}
    if not narrow:  # every word everywhere: the newest matches (FTS5 reads from the end)
        return db.execute(f"SELECT c.id, 0.0 {join} ORDER BY {table}.rowid DESC LIMIT :limit",
                          {**values, "expression": joiner.join(terms)}).fetchall()
    ranked_by = joiner.join(narrow)
    if joiner == " OR " or len(narrow) == len(terms):
        return db.execute(f"SELECT c.id, -bm25({table}) AS score {join}"
                          " ORDER BY score DESC, c.id LIMIT :limit",
                          {**values, "expression": ranked_by}).fetchall()
    # Every word must match, some of them everywhere: which passages hold them all (at most
    # BROAD: the narrow words hold no more), ranked by the narrow words alone.
    holding = {row[0] for row in db.execute(f"SELECT c.id {join}",
                                            {**values, "expression": joiner.join(terms)})}
    scores = db.execute(f"SELECT rowid, -bm25({table}) FROM {table} WHERE {table} MATCH ?",
                        (ranked_by,)).fetchall()
    return sorted(((i, score) for i, score in scores if i in holding),
                  key=lambda item: (-item[1], item[0]))[:limit]
