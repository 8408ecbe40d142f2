"""Full-text search over message content and reasoning (FTS5 ``messages_fts``).

Messages still streaming are not indexed; they become searchable once they
complete, fail or are cancelled (see migration 2 in :mod:`storage.schema`).

Soft-deleted messages and trashed conversations stay in the index and are filtered
out by the query's joins: deleting and restoring then never rewrite the index.
Messages on branches other than the one shown are found too (an old answer that was
regenerated is still worth finding); ``SearchHit.on_current_branch`` says which, so a
click can ``conversations.switch_branch`` to the hit first.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from sqlite_utils import Database

from .tree import shown_branch_cte

# Snippets mark matched words with these control characters, which never
# occur in chat text; use SearchHit.snippet_text / snippet_html to render.
HIGHLIGHT_START = "\x02"
HIGHLIGHT_END = "\x03"
ELLIPSIS = "…"
SNIPPET_TOKENS = 12  # approximate words of context per snippet
# Matches considered for ranking, newest first: a word in most messages is ranked among the
# latest CANDIDATES of them (a chat app's searches are mostly for recent things).
CANDIDATES = 2000


@dataclass(frozen=True)
class SearchHit:
    message_id: int
    conversation_id: int
    conversation_title: str
    snippet: str  # matched words wrapped in HIGHLIGHT_START … HIGHLIGHT_END
    role: str  # the message's role, one of storage.ROLES
    created_at: str  # the message's UTC ISO-8601 creation time
    on_current_branch: bool  # False: on a branch not shown; switch_branch to it first
    in_reasoning: bool = False  # the snippet comes from the answer's reasoning, not its text

    @property
    def snippet_text(self) -> str:
        """The snippet without highlight marks."""
        return self.snippet.replace(HIGHLIGHT_START, "").replace(HIGHLIGHT_END, "")

    def snippet_html(self, tag: str = "b") -> str:
        """The snippet HTML-escaped, matched words wrapped in ``<tag>``."""
        escaped = html.escape(self.snippet, quote=False)
        return escaped.replace(HIGHLIGHT_START, f"<{tag}>").replace(HIGHLIGHT_END, f"</{tag}>")


def match_expression(query: str) -> str:
    """Turn what a user typed into a safe FTS5 MATCH expression.

    Every whitespace-separated term becomes a quoted prefix phrase, inner
    double quotes doubled (``a:b`` → ``"a:b"*``), so FTS5 operators and
    punctuation (AND, OR, NOT, *, :, ^, quotes, parentheses) are matched as
    text, never parsed.
    All terms must match.  Returns '' when there is nothing to search for.
    """
    # Lone surrogates (invalid UTF-16 from a widget) cannot be bound: drop them.
    query = query.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")
    terms = query.split()
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms)


def search(db: Database, query: str, limit: int = 50) -> list[SearchHit]:
    """Messages matching every term of ``query``, best match first among the newest
    ``CANDIDATES`` matches, on any branch but never soft-deleted or in a trashed conversation.

    Content matches weigh more than reasoning matches.  Never raises on odd
    user input; an empty or blank query returns [].
    """
    expression = match_expression(query)
    if not expression or limit <= 0:
        return []
    # Three small steps instead of one query: ranking and snippets for every match of a
    # common word ("the": a million rows) took seconds, and one query with all three steps
    # let SQLite scan the whole match set again for the snippets.
    # 1. The newest CANDIDATES matches, scored: FTS5 walks its index in rowid order and stops.
    candidates = db.execute(
        "SELECT rowid, bm25(messages_fts, 2.0, 1.0) FROM messages_fts"
        " WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
        (expression, CANDIDATES)).fetchall()
    if not candidates:
        return []
    score = dict(candidates)
    # 2. Those still visible (not deleted, not in the trash), best first.
    marks = ",".join("?" * len(score))
    visible = list(db.query(
        "SELECT m.id AS message_id, m.conversation_id, c.title AS conversation_title, m.role,"
        " m.created_at FROM messages AS m"
        " JOIN conversations AS c ON c.id = m.conversation_id AND c.deleted_at IS NULL"
        f" WHERE m.id IN ({marks}) AND m.deleted_at IS NULL", list(score)))
    visible.sort(key=lambda row: (score[row["message_id"]], -row["message_id"]))
    ranked = visible[:int(limit)]
    # 3. Snippets for the hits shown only, cut from their text here: FTS5's snippet() needs
    # the MATCH again, and with a rowid filter it still walks every match (140 ms for "the").
    terms = [t.strip('"').replace('""', '"').lower() for t in expression.rstrip("*").split('"* ')]
    texts = {row[0]: (row[1], row[2]) for row in db.execute(
        f"SELECT id, content, reasoning FROM messages WHERE id IN "
        f"({','.join('?' * len(ranked))})", [row["message_id"] for row in ranked]).fetchall()} \
        if ranked else {}
    for row in ranked:
        content, reasoning = texts.get(row["message_id"], ("", ""))
        # The snippet from the text people read, unless only the reasoning matched.
        row["in_reasoning"] = bool(reasoning) and not _matches(content, terms) \
            and _matches(reasoning, terms)
        row["snippet"] = make_snippet(reasoning if row["in_reasoning"] else content, terms)
    shown = _on_current_branches(db, {row["conversation_id"] for row in ranked})
    rows = [{**row, "on_current_branch": row["message_id"] in shown} for row in ranked]
    return [SearchHit(**{**row, "on_current_branch": bool(row["on_current_branch"])})
            for row in rows]


def _on_current_branches(db: Database, conversation_ids: set[int]) -> set[int]:
    """Ids of the messages on the branches shown of these conversations."""
    if not conversation_ids:
        return set()
    marks = ",".join("?" * len(conversation_ids))
    rows = db.execute(f"{shown_branch_cte(f'id IN ({marks})')} SELECT id FROM branch"
                      " WHERE id IS NOT NULL", list(conversation_ids)).fetchall()
    return {r[0] for r in rows}


_WORD = re.compile(r"\w[\w'-]*|[^\w\s]+", re.UNICODE)


def _matches(text: str, terms: list[str]) -> bool:
    wanted = [_fold(t) for t in terms if t]
    return any(_fold(w.group(0)).startswith(t) for w in _WORD.finditer(text) for t in wanted)


def make_snippet(text: str, terms: list[str], width: int = SNIPPET_TOKENS) -> str:
    """About `width` words of `text` around the first word that starts with a term, every such
    word wrapped in the highlight marks, with … where text was cut."""
    words = list(_WORD.finditer(text))
    folded = [_fold(w.group(0)) for w in words]
    wanted = [_fold(t) for t in terms if t]
    hits = [i for i, w in enumerate(folded) if any(w.startswith(t) for t in wanted)]
    first = hits[0] if hits else 0
    start = max(0, min(first - width // 3, len(words) - width))
    chosen = words[start:start + width]
    if not chosen:
        return ""
    out, last = [], chosen[0].start()
    for i, word in enumerate(chosen, start):
        out.append(text[last:word.start()])
        out.append(HIGHLIGHT_START + word.group(0) + HIGHLIGHT_END if i in hits else word.group(0))
        last = word.end()
    snippet = " ".join("".join(out).split())
    return (ELLIPSIS if start > 0 else "") + snippet + (ELLIPSIS if start + width < len(words) else "")


def _fold(word: str) -> str:
    """Lower case without accents, as the index's unicode61 tokenizer compares words."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
