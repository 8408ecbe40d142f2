"""Conversations: one row per chat in the sidebar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from .clock import utc_now

if TYPE_CHECKING:
    from .db import Store

DEFAULT_TITLE = "New chat"
_COLUMNS = "id, title, created_at, updated_at"


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str  # UTC ISO-8601
    updated_at: str  # UTC ISO-8601: creation or last message add/update


def _clean_title(title: str) -> str:
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, not {type(title).__name__}")
    cleaned = " ".join(title.split())
    if not cleaned:
        raise ValueError("title must not be empty")
    return cleaned


class Conversations:
    """``store.conversations``: create, read, rename, delete chats."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, title: str = DEFAULT_TITLE) -> Conversation:
        title = _clean_title(title)
        now = utc_now()
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                (title, now, now),
            )
        return Conversation(cast(int, cursor.lastrowid), title, now, now)

    def get(self, conversation_id: int) -> Conversation | None:
        """The conversation, or None if there is no such id."""
        rows = list(self._store.db.query(
            f"SELECT {_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        ))
        return Conversation(**rows[0]) if rows else None

    def list(self) -> list[Conversation]:
        """All conversations, most recently updated first."""
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM conversations ORDER BY updated_at DESC, id DESC"
        )
        return [Conversation(**row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> Conversation:
        """Set the title (whitespace collapsed). Does not change the sidebar order."""
        title = _clean_title(title)
        with self._store.transaction():
            cursor = self._store.db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no conversation with id {conversation_id}")
        return self.get(conversation_id)  # type: ignore[return-value]

    def touch(self, conversation_id: int, when: str | None = None) -> None:
        """Mark the conversation as just active (moves it to the top of list())."""
        with self._store.transaction():
            self._store.db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (when or utc_now(), conversation_id),
            )

    def delete(self, conversation_id: int) -> bool:
        """Delete the conversation and all its messages; False if it did not exist."""
        with self._store.transaction():
            cursor = self._store.db.execute(
                "DELETE FROM conversations WHERE id = ?", (conversation_id,)
            )
        return cursor.rowcount > 0
