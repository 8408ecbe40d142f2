"""Messages: the turns of a conversation, including answers still streaming."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from .clock import utc_now

if TYPE_CHECKING:
    from .db import Store

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("streaming", "complete", "cancelled", "failed")
EFFORTS = ("low", "medium", "high")
INTERRUPTED_ERROR = "Interrupted: Hearth closed before the answer finished"

_COLUMNS = (
    "id, conversation_id, role, content, reasoning, status, effort, model_name,"
    " model_sha256, stats, error, created_at, updated_at"
)


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str  # one of ROLES
    content: str  # answer / prompt text
    reasoning: str  # reasoning channel text, '' if none
    status: str  # one of STATUSES
    effort: str | None  # one of EFFORTS, or None
    model_name: str | None
    model_sha256: str | None
    stats: dict[str, Any] = field(hash=False)  # free-form generation stats
    error: str | None
    created_at: str  # UTC ISO-8601
    updated_at: str  # UTC ISO-8601


def _check(name: str, value: object, allowed: tuple[str, ...], *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed) + (" or None" if optional else "")
        raise ValueError(f"invalid {name} {value!r}: expected {choices}")


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def _stats_json(stats: Mapping[str, Any]) -> str:
    if not isinstance(stats, Mapping):
        raise TypeError(f"stats must be a mapping, not {type(stats).__name__}")
    return json.dumps(dict(stats), ensure_ascii=False, allow_nan=False)


def _row_to_message(row: dict[str, Any]) -> Message:
    return Message(**{**row, "stats": json.loads(row["stats"])})


class Messages:
    """``store.messages``: add, update and read the messages of conversations."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self,
        conversation_id: int,
        role: str,
        content: str = "",
        *,
        reasoning: str = "",
        status: str = "complete",
        effort: str | None = None,
        model_name: str | None = None,
        model_sha256: str | None = None,
    ) -> Message:
        """Append a message and bump the conversation's ``updated_at``. ValueError for
        a bad role/status/effort; sqlite3.IntegrityError for an unknown conversation."""
        _check("role", role, ROLES)
        _check("status", status, STATUSES)
        _check("effort", effort, EFFORTS, optional=True)
        _check_text("content", content)
        _check_text("reasoning", reasoning)
        now = utc_now()
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO messages (conversation_id, role, content, reasoning, status,"
                " effort, model_name, model_sha256, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, reasoning, status, effort,
                 model_name, model_sha256, now, now),
            )
            self._store.conversations.touch(conversation_id, now)
        message_id = cast(int, cursor.lastrowid)
        return Message(message_id, conversation_id, role, content, reasoning, status, effort,
                       model_name, model_sha256, {}, None, now, now)

    def add_turn(
        self,
        conversation_id: int,
        user_text: str,
        *,
        effort: str | None = None,
        model_name: str | None = None,
        model_sha256: str | None = None,
    ) -> tuple[Message, Message]:
        """In one transaction: the user's message and an empty 'streaming'
        assistant placeholder for the answer. Returns (user, assistant)."""
        with self._store.transaction():
            user = self.add(conversation_id, "user", user_text)
            assistant = self.add(
                conversation_id, "assistant", status="streaming", effort=effort,
                model_name=model_name, model_sha256=model_sha256,
            )
        return user, assistant

    def update(
        self,
        message_id: int,
        *,
        content: str | None = None,
        reasoning: str | None = None,
        status: str | None = None,
        stats: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Message:
        """Change only the given fields (None = leave as is) and return the row.

        ``content``/``reasoning`` replace the whole text; ``stats`` replaces
        the whole dict; ``error=''`` clears the error.  Bumps ``updated_at`` of
        the message and its conversation.  KeyError if there is no such id.
        """
        changes: dict[str, Any] = {}
        if content is not None:
            _check_text("content", content)
            changes["content"] = content
        if reasoning is not None:
            _check_text("reasoning", reasoning)
            changes["reasoning"] = reasoning
        if status is not None:
            _check("status", status, STATUSES)
            changes["status"] = status
        if stats is not None:
            changes["stats"] = _stats_json(stats)
        if error is not None:
            _check_text("error", error)
            changes["error"] = error or None
        now = changes["updated_at"] = utc_now()
        assignments = ", ".join(f"{column} = :{column}" for column in changes)
        with self._store.transaction():
            cursor = self._store.db.execute(
                f"UPDATE messages SET {assignments} WHERE id = :message_id",
                {**changes, "message_id": message_id},
            )
            if cursor.rowcount == 0:
                raise KeyError(f"no message with id {message_id}")
            self._store.db.execute(
                "UPDATE conversations SET updated_at = ?"
                " WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (now, message_id),
            )
            return self.get(message_id)  # type: ignore[return-value]

    def get(self, message_id: int) -> Message | None:
        """The message, or None if there is no such id."""
        rows = list(self._store.db.query(
            f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ))
        return _row_to_message(rows[0]) if rows else None

    def list_for(self, conversation_id: int) -> list[Message]:
        """The conversation's messages in the order they were added."""
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [_row_to_message(row) for row in rows]

    def mark_interrupted(self) -> int:
        """Turn every 'streaming' message into 'failed' (content kept).

        Call once at startup, before any generation begins: a message still
        streaming then was cut off when Hearth crashed or was killed.
        Returns how many messages were changed.
        """
        with self._store.transaction():
            cursor = self._store.db.execute(
                "UPDATE messages SET status = 'failed', error = ?, updated_at = ?"
                " WHERE status = 'streaming'",
                (INTERRUPTED_ERROR, utc_now()),
            )
        return cursor.rowcount
