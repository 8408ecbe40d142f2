"""Messages: the turns of a conversation, including answers still streaming.

A conversation is a tree of messages (see :mod:`storage.tree`): regenerating an answer
adds a sibling assistant message, editing a prompt adds a sibling user message, and the
conversation's current leaf says which branch :meth:`Messages.thread` shows.  Deleting is
soft (``deleted_at``) so it can be undone; :meth:`Messages.purge_deleted` removes for good.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from common.values import EFFORTS

from . import inuse
from .clock import utc_now
from .errors import stored_json
from .tree import current_leaf, newest_leaf, require_visible, set_leaf, shown_branch_cte

if TYPE_CHECKING:
    from .db import Store

ROLES = ("system", "user", "assistant", "tool")
STATUSES = ("streaming", "complete", "cancelled", "failed")
INTERRUPTED_ERROR = "Interrupted: Hearth closed before the answer finished"

_COLUMNS = (
    "id, conversation_id, role, content, reasoning, status, effort, model_name,"
    " model_sha256, stats, error, created_at, updated_at, parent_id, deleted_at"
)


class _Default(enum.Enum):
    CURRENT_LEAF = "the conversation's current leaf"


CURRENT_LEAF = _Default.CURRENT_LEAF
"""The default ``parent_id`` of :meth:`Messages.add` and :meth:`Messages.add_turn`:
continue the branch shown.  (``None`` means "a root message", so it cannot be the
default.)"""


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
    parent_id: int | None = None  # the message this one follows; None for a root
    deleted_at: str | None = None  # UTC ISO-8601 when soft-deleted; None if visible


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
    return Message(**{**row, "stats": stored_json(row["stats"], {}, dict)})


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
        parent_id: int | None | _Default = CURRENT_LEAF,
        reasoning: str = "",
        status: str = "complete",
        effort: str | None = None,
        model_name: str | None = None,
        model_sha256: str | None = None,
        stats: Mapping[str, Any] | None = None,
        error: str | None = None,
        created_at: str | None = None,
    ) -> Message:
        """Append a message under ``parent_id`` (default: the current leaf; None: a new
        root), make it the current leaf and bump the conversation's ``updated_at``.

        ``stats``, ``error`` and ``created_at`` (default: now; it is also the message's
        ``updated_at``) record a message as it was, for imports.  ValueError for a bad
        role/status/effort or a parent that is not a visible message of this
        conversation; sqlite3.IntegrityError for an unknown conversation.
        """
        _check("role", role, ROLES)
        _check("status", status, STATUSES)
        _check("effort", effort, EFFORTS, optional=True)
        _check_text("content", content)
        _check_text("reasoning", reasoning)
        stats_json = _stats_json({} if stats is None else stats)
        if error is not None:
            _check_text("error", error)
        if created_at is not None:
            _check_text("created_at", created_at)
        now = utc_now()
        written = created_at or now
        db = self._store.db
        with self._store.transaction():
            if parent_id is CURRENT_LEAF:
                parent_id = current_leaf(db, conversation_id)
            elif parent_id is not None:
                require_visible(db, conversation_id, parent_id)
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, reasoning,"
                " status, effort, model_name, model_sha256, stats, error, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role, content, reasoning, status, effort,
                 model_name, model_sha256, stats_json, error or None, written, written),
            )
            message_id = cast(int, cursor.lastrowid)
            set_leaf(db, conversation_id, message_id)
            self._store.conversations.touch(conversation_id, now)
        return Message(
            id=message_id, conversation_id=conversation_id, role=role, content=content,
            reasoning=reasoning, status=status, effort=effort, model_name=model_name,
            model_sha256=model_sha256, stats=json.loads(stats_json), error=error or None,
            created_at=written, updated_at=written, parent_id=parent_id,
        )

    def add_turn(
        self,
        conversation_id: int,
        user_text: str,
        *,
        parent_id: int | None | _Default = CURRENT_LEAF,
        effort: str | None = None,
        model_name: str | None = None,
        model_sha256: str | None = None,
    ) -> tuple[Message, Message]:
        """In one transaction: the user's message under ``parent_id`` (default: the
        current leaf) and an empty 'streaming' assistant placeholder answering it, which
        becomes the current leaf.  Returns (user, assistant).

        "Edit and resend" is ``parent_id=<the edited message's parent_id>``: the new
        prompt becomes a sibling of the old one, which keeps its own answers.
        """
        with self._store.transaction():
            user = self.add(conversation_id, "user", user_text, parent_id=parent_id)
            assistant = self.add(
                conversation_id, "assistant", parent_id=user.id, status="streaming",
                effort=effort, model_name=model_name, model_sha256=model_sha256,
            )
        return user, assistant

    def add_reply(
        self,
        user_message_id: int,
        *,
        effort: str | None = None,
        model_name: str | None = None,
        model_sha256: str | None = None,
    ) -> Message:
        """Regenerate: a new empty 'streaming' assistant placeholder answering the given
        user message, beside its earlier answers; it becomes the current leaf.

        KeyError for an unknown id; ValueError if the message is deleted or not the
        user's (passing the old answer's id instead of its prompt's is the likely slip).
        """
        with self._store.transaction():
            user = self.get(user_message_id)
            if user is None:
                raise KeyError(f"no message with id {user_message_id}")
            if user.role != "user":
                raise ValueError(f"message {user_message_id} is a {user.role} message, not a"
                                 " user message")
            return self.add(
                user.conversation_id, "assistant", parent_id=user.id, status="streaming",
                effort=effort, model_name=model_name, model_sha256=model_sha256,
            )

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
        """Every visible message of the conversation, all branches, in the order they
        were added (parents before children).  For export and tools; the chat view and
        the model's history want :meth:`thread`."""
        rows = self._store.db.query(
            f"SELECT {_COLUMNS} FROM messages"
            " WHERE conversation_id = ? AND deleted_at IS NULL ORDER BY id",
            (conversation_id,),
        )
        return [_row_to_message(row) for row in rows]

    def thread(self, conversation_id: int) -> list[Message]:
        """The branch shown: root to current leaf along ``parent_id``, oldest first."""
        rows = self._store.db.query(
            f"""{shown_branch_cte()}
            SELECT {_COLUMNS} FROM messages
            WHERE id IN (SELECT id FROM branch) AND deleted_at IS NULL
            ORDER BY id
            """,
            {"conversation": conversation_id},
        )
        return [_row_to_message(row) for row in rows]

    def siblings(self, message_id: int) -> list[Message]:
        """The message and its visible siblings (same parent; for a root, the
        conversation's visible roots), oldest first: branch k of n is at index k-1.
        [] for an unknown id."""
        rows = self._store.db.query(
            f"""
            SELECT {_COLUMNS} FROM messages
            WHERE conversation_id = (SELECT conversation_id FROM messages WHERE id = :id)
              AND parent_id IS (SELECT parent_id FROM messages WHERE id = :id)
              AND (deleted_at IS NULL OR id = :id)
            ORDER BY id
            """,
            {"id": message_id},
        )
        return [_row_to_message(row) for row in rows]

    def delete(self, message_id: int) -> list[int]:
        """Soft-delete the message and its descendants; returns their ids, for
        :meth:`restore` (undo).  [] if it was already deleted; KeyError if unknown.

        If the branch shown ran through them, the conversation shows instead the
        newest branch of the newest remaining sibling, or else ends at the parent.
        """
        db = self._store.db
        with self._store.transaction():
            message = self.get(message_id)
            if message is None:
                raise KeyError(f"no message with id {message_id}")
            ids = [row[0] for row in db.execute(
                """
                WITH RECURSIVE doomed(id) AS (
                    SELECT id FROM messages WHERE id = ? AND deleted_at IS NULL
                    UNION ALL
                    SELECT child.id FROM doomed JOIN messages AS child
                        ON child.parent_id = doomed.id AND child.deleted_at IS NULL
                )
                SELECT id FROM doomed ORDER BY id
                """,
                (message_id,),
            )]
            db.execute(
                "UPDATE messages SET deleted_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                (utc_now(), json.dumps(ids)),
            )
            if current_leaf(db, message.conversation_id) in ids:
                set_leaf(db, message.conversation_id, self._leaf_after_delete(message))
        return ids

    def _leaf_after_delete(self, deleted: Message) -> int | None:
        sibling = self._store.db.execute(
            "SELECT MAX(id) FROM messages"
            " WHERE conversation_id = ? AND parent_id IS ? AND deleted_at IS NULL",
            (deleted.conversation_id, deleted.parent_id),
        ).fetchone()[0]
        if sibling is None:
            return deleted.parent_id
        return newest_leaf(self._store.db, sibling)

    def restore(self, ids: Iterable[int]) -> None:
        """Undo :meth:`delete`: make these messages (one conversation's) visible again.

        If the conversation now ends at the parent of the first (lowest-id) restored
        message, as :meth:`delete` leaves it when no sibling remained, it shows the
        restored branch again.  KeyError for an unknown id; ValueError for ids of several
        conversations or a message whose parent stays deleted (restore that first).
        """
        wanted = sorted(set(ids))
        if not wanted:
            return
        db = self._store.db
        id_list = json.dumps(wanted)
        with self._store.transaction():
            found, conversations = db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT conversation_id) FROM messages"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (id_list,),
            ).fetchone()
            if found != len(wanted):
                raise KeyError(f"no messages with some of the ids {wanted}")
            if conversations != 1:
                raise ValueError("can only restore messages of one conversation at a time")
            db.execute(
                "UPDATE messages SET deleted_at = NULL"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (id_list,),
            )
            orphan = db.execute(
                "SELECT child.id FROM messages AS child JOIN messages AS parent"
                " ON parent.id = child.parent_id"
                " WHERE child.id IN (SELECT value FROM json_each(?))"
                " AND parent.deleted_at IS NOT NULL",
                (id_list,),
            ).fetchone()
            if orphan is not None:
                raise ValueError(f"message {orphan[0]}'s parent is deleted: restore it first")
            first = cast(Message, self.get(wanted[0]))
            if current_leaf(db, first.conversation_id) == first.parent_id:
                set_leaf(db, first.conversation_id, newest_leaf(db, first.id))

    def purge_deleted(self, older_than: str) -> int:
        """Delete for good the messages soft-deleted before ``older_than`` (UTC ISO-8601,
        as :func:`storage.utc_now` writes).  Returns how many rows went."""
        _check_text("older_than", older_than)
        db = self._store.db
        with self._store.transaction():
            # Counted first: rows that go by cascade are missing from the DELETE's rowcount.
            count = db.execute(
                "SELECT COUNT(*) FROM messages WHERE deleted_at < ?", (older_than,)
            ).fetchone()[0]
            db.execute("DELETE FROM messages WHERE deleted_at < ?", (older_than,))
        return int(count)

    def mark_interrupted(self) -> int:
        """Turn every 'streaming' message into 'failed' (content kept): cut off when the
        process writing it crashed or was killed.  Does nothing (returns 0) while another
        process has the database open: its answers may be streaming right now (see
        :mod:`storage.inuse`); nor on a read-only Store.  Returns how many were changed.
        """
        path = self._store.path
        if self._store.read_only:
            return 0
        with inuse.exclusive(path) if str(path) != ":memory:" else nullcontext(True) as alone:
            if not alone:
                return 0
            with self._store.transaction():
                cursor = self._store.db.execute(
                    "UPDATE messages SET status = 'failed', error = ?, updated_at = ?"
                    " WHERE status = 'streaming'",
                    (INTERRUPTED_ERROR, utc_now()),
                )
        return cursor.rowcount
