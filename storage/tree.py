"""The branch queries :mod:`storage.messages` and :mod:`storage.conversations` share.

A conversation's messages form a tree through ``parent_id``; the conversation's
``current_leaf_id`` names the last message of the branch shown.  "Visible" means not
soft-deleted.  Two invariants keep the queries simple: a parent always has a smaller id
than its children (it had to exist first), and a visible message's ancestors are all
visible (deleting a message deletes its descendants; restoring needs the parent back).
"""

from __future__ import annotations

from sqlite_utils import Database


def shown_branch_cte(conversations: str = "id = :conversation") -> str:
    """A ``branch(id)`` CTE of the messages on the shown branch of the conversations the SQL
    condition `conversations` selects: from each current leaf up its parents to the root.
    One definition for the thread, the documents of a chat and search's "on this branch"."""
    return f"""
        WITH RECURSIVE branch(id) AS (
            SELECT current_leaf_id FROM conversations WHERE {conversations}
            UNION ALL
            SELECT messages.parent_id FROM branch JOIN messages ON messages.id = branch.id
        )"""


def require_visible(db: Database, conversation_id: int, message_id: int) -> None:
    """ValueError unless ``message_id`` is a visible message of ``conversation_id``.

    Branch operations take ids from the UI, and a stale id (another window deleted
    the message) must not graft a branch onto a hidden or foreign message.
    """
    row = db.execute(
        "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ? AND deleted_at IS NULL",
        (message_id, conversation_id),
    ).fetchone()
    if row is None:
        raise ValueError(
            f"message {message_id} is not a visible message of conversation {conversation_id}"
        )


def newest_leaf(db: Database, message_id: int) -> int:
    """The end of ``message_id``'s newest branch: from it, follow the most recently
    created visible child until there is none.  ``message_id`` itself if childless."""
    row = db.execute(
        """
        WITH RECURSIVE newest(id) AS (
            SELECT :start
            UNION ALL
            SELECT child.id FROM newest JOIN messages AS child ON child.id = (
                SELECT MAX(id) FROM messages
                WHERE parent_id = newest.id AND deleted_at IS NULL
            )
        )
        SELECT MAX(id) FROM newest
        """,
        {"start": message_id},
    ).fetchone()
    return int(row[0])


def current_leaf(db: Database, conversation_id: int) -> int | None:
    """The conversation's current leaf; None when it has no visible message (or no such
    conversation)."""
    row = db.execute(
        "SELECT current_leaf_id FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    return row[0] if row else None


def set_leaf(db: Database, conversation_id: int, leaf_id: int | None) -> None:
    """Show the branch ending at ``leaf_id`` (None: the conversation is empty)."""
    db.execute(
        "UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf_id, conversation_id)
    )
