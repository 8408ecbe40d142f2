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
from dataclasses import dataclass

from sqlite_utils import Database

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
    rows = db.query(
        """
        WITH RECURSIVE candidates AS (
            -- The newest matches first, scored, at most CANDIDATES of them: FTS5 walks its
            -- index in rowid order and stops, where ranking every match of a common word
            -- ("the": a million rows) took seconds.
            SELECT rowid AS id, bm25(messages_fts, 2.0, 1.0) AS score
            FROM messages_fts
            WHERE messages_fts MATCH :expression
            ORDER BY rowid DESC
            LIMIT :candidates
        ),
        ranked AS (
            SELECT m.id AS message_id, m.conversation_id, c.title AS conversation_title,
                   m.role, m.created_at, candidates.score
            FROM candidates
            JOIN messages AS m ON m.id = candidates.id AND m.deleted_at IS NULL
            JOIN conversations AS c ON c.id = m.conversation_id AND c.deleted_at IS NULL
            ORDER BY candidates.score, m.id DESC
            LIMIT :limit
        ),
        snippets AS (  -- only for the hits shown
            SELECT rowid AS id,
                   snippet(messages_fts, -1, :start, :end, :ellipsis, :tokens) AS snippet
            FROM messages_fts
            WHERE messages_fts MATCH :expression AND rowid IN (SELECT message_id FROM ranked)
        ),
        shown(id) AS (  -- the current branches of the conversations hit
            SELECT current_leaf_id FROM conversations
            WHERE id IN (SELECT conversation_id FROM ranked)
            UNION ALL
            SELECT messages.parent_id FROM shown JOIN messages ON messages.id = shown.id
        )
        SELECT ranked.message_id, conversation_id, conversation_title, snippets.snippet,
               role, created_at, ranked.message_id IN (SELECT id FROM shown) AS on_current_branch
        FROM ranked JOIN snippets ON snippets.id = ranked.message_id
        ORDER BY ranked.score, ranked.message_id DESC
        """,
        {
            "start": HIGHLIGHT_START,
            "end": HIGHLIGHT_END,
            "ellipsis": ELLIPSIS,
            "tokens": SNIPPET_TOKENS,
            "expression": expression,
            "limit": int(limit),
            "candidates": CANDIDATES,
        },
    )
    return [SearchHit(**{**row, "on_current_branch": bool(row["on_current_branch"])})
            for row in rows]
