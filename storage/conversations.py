"""Conversations: one row per chat in the sidebar (or in the trash)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .clock import utc_now
from .tree import newest_leaf, require_visible, set_leaf

if TYPE_CHECKING:
    from .db import Store

DEFAULT_TITLE = "New chat"
_COLUMNS = "id, title, created_at, updated_at, current_leaf_id, pinned, deleted_at, preset_id"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str  # UTC ISO-8601
    updated_at: str  # UTC ISO-8601: creation or last message add/update
    current_leaf_id: int | None = None  # last message of the branch shown; None if empty
    pinned: bool = False  # listed first in the sidebar
    deleted_at: str | None = None  # UTC ISO-8601 when moved to the trash; None if not
    preset_id: int | None = None  # the saved preset (developer instructions) in use


def _clean_title(title: str) -> str:
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, not {type(title).__name__}")
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValueError("title must not be empty")
    return cleaned


def _row_to_conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(**{**row, "pinned": bool(row["pinned"])})


class Conversations:
    """``store.conversations``: create, read, rename, pin, trash and delete chats."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, title: str = DEFAULT_TITLE, *, created_at: str | None = None) -> Conversation:
        """A new, empty chat at the top of the sidebar.  ``created_at`` (default: now)
        keeps an imported chat's original date."""
        title = _clean_title(title)
        if created_at is not None and not isinstance(created_at, str):
            raise TypeError(f"created_at must be a str, not {type(created_at).__name__}")
        now = utc_now()
        created_at = created_at or now
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (title, created_at, now),
            )
        return Conversation(cast(int, cursor.lastrowid), title, created_at, now)

    def get(self, conversation_id: int) -> Conversation | None:
        """The conversation, trashed or not, or None if there is no such id."""
        rows = list(self._store.db.query(
            f"SELECT {_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        ))
        return _row_to_conversation(rows[0]) if rows else None

    def list(self, limit: int | None = None) -> list[Conversation]:
        """The sidebar: conversations not in the trash, pinned ones first, then most
        recently updated first; the first `limit` of them if given."""
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM conversations WHERE deleted_at IS NULL"
            " ORDER BY pinned DESC, updated_at DESC, id DESC"
            + (" LIMIT ?" if limit is not None else ""),
            (int(limit),) if limit is not None else (),
        )
        return [_row_to_conversation(row) for row in rows]

    def count(self) -> int:
        """Conversations not in the trash."""
        return self._store.db.execute(
            "SELECT count(*) FROM conversations WHERE deleted_at IS NULL").fetchone()[0]

    def list_trash(self) -> list[Conversation]:
        """Conversations in the trash, most recently trashed first."""
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM conversations WHERE deleted_at IS NOT NULL"
            " ORDER BY deleted_at DESC, id DESC"
        )
        return [_row_to_conversation(row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> Conversation:
        """Set the title (whitespace collapsed). Does not change the sidebar order."""
        title = _clean_title(title)
        return self._set(conversation_id, "title", title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> Conversation:
        """Pin to (or unpin from) the top of the sidebar. KeyError for an unknown id."""
        if not isinstance(pinned, bool):
            raise TypeError(f"pinned must be a bool, not {type(pinned).__name__}")
        return self._set(conversation_id, "pinned", int(pinned))

    def set_preset(self, conversation_id: int, preset_id: int | None) -> Conversation:
        """Use a saved preset's instructions in this conversation (None: no preset)."""
        return self._set(conversation_id, "preset_id", preset_id)

    def _set(self, conversation_id: int, column: str, value: object) -> Conversation:
        with self._store.transaction():
            cursor = self._store.db.execute(
                f"UPDATE conversations SET {column} = ? WHERE id = ?", (value, conversation_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no conversation with id {conversation_id}")
        return self.get(conversation_id)  # type: ignore[return-value]

    def switch_branch(self, conversation_id: int, message_id: int) -> int:
        """Show ``message_id``'s branch: the current leaf becomes its newest visible
        descendant (following the most recently created child at each step, so an
        earlier branch reopens where it was last extended).  Returns the new leaf id.
        ValueError unless the message is a visible one of this conversation."""
        db = self._store.db
        with self._store.transaction():
            require_visible(db, conversation_id, message_id)
            leaf = newest_leaf(db, message_id)
            set_leaf(db, conversation_id, leaf)
        return leaf

    def touch(self, conversation_id: int, when: str | None = None) -> None:
        """Mark the conversation as just active (moves it to the top of list())."""
        with self._store.transaction():
            self._store.db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (when or utc_now(), conversation_id),
            )

    def trash(self, conversation_id: int) -> bool:
        """Move to the trash (undo with :meth:`restore`); False if there is no such
        conversation or it is already there."""
        with self._store.transaction():
            cursor = self._store.db.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (utc_now(), conversation_id),
            )
        return cursor.rowcount > 0

    def restore(self, conversation_id: int) -> bool:
        """Take out of the trash, back to its place in the sidebar; False if it was not
        in the trash."""
        with self._store.transaction():
            cursor = self._store.db.execute(
                "UPDATE conversations SET deleted_at = NULL"
                " WHERE id = ? AND deleted_at IS NOT NULL",
                (conversation_id,),
            )
        return cursor.rowcount > 0

    def purge_trash(self, older_than: str) -> int:
        """Delete for good the conversations trashed before ``older_than`` (UTC
        ISO-8601, as :func:`storage.utc_now` writes), with their messages.  Returns how
        many conversations went."""
        if not isinstance(older_than, str):
            raise TypeError(f"older_than must be a str, not {type(older_than).__name__}")
        with self._store.transaction():
            cursor = self._store.db.execute(
                "DELETE FROM conversations WHERE deleted_at < ?", (older_than,)
            )
        return cursor.rowcount

    def delete(self, conversation_id: int) -> bool:
        """Delete the conversation and all its messages now, skipping the trash; False
        if it did not exist."""
        with self._store.transaction():
            cursor = self._store.db.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            )
        return cursor.rowcount > 0
