"""An answer's tool calls and their results, in order (`store.tool_calls`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .clock import utc_now

if TYPE_CHECKING:
    from .db import Store

STATUSES = ("pending", "running", "done", "error", "denied", "cancelled", "replayed")
_COLUMNS = ("id, message_id, seq, recipient, arguments, channel, content_type, constrained, "
            "call_id, reasoning, preamble, status, result, error, pages, started_at, duration_s")


@dataclass(frozen=True)
class StoredCall:
    id: int
    message_id: int
    seq: int
    recipient: str
    arguments: str
    channel: str
    content_type: str
    constrained: bool
    call_id: str
    reasoning: str
    preamble: str
    status: str
    result: str | None
    error: str | None
    pages: tuple[str, ...] = field(default=())
    started_at: str | None = None
    duration_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "error", "denied", "cancelled", "replayed")

    @property
    def text_for_model(self) -> str:
        """What the model read back: the result, or the error in its place."""
        return self.result if self.result is not None else (self.error or "")


def _row(row: tuple) -> StoredCall:
    values = dict(zip([c.strip() for c in _COLUMNS.split(",")], row))
    try:
        pages = tuple(str(p) for p in json.loads(values["pages"] or "[]"))
    except (ValueError, TypeError):
        pages = ()
    return StoredCall(**{**values, "constrained": bool(values["constrained"]), "pages": pages})


class ToolCalls:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, message_id: int, seq: int, *, recipient: str, arguments: str, channel: str,
            content_type: str = "", constrained: bool = False, call_id: str,
            reasoning: str = "", preamble: str = "", status: str = "pending") -> StoredCall:
        if status not in STATUSES:
            raise ValueError(f"invalid tool call status {status!r}")
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO tool_calls (message_id, seq, recipient, arguments, channel,"
                " content_type, constrained, call_id, reasoning, preamble, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, seq, recipient, arguments, channel, content_type, int(constrained),
                 call_id, reasoning, preamble, status))
        return self.get(cursor.lastrowid)

    def get(self, call_id: int) -> StoredCall | None:
        row = self._store.db.execute(
            f"SELECT {_COLUMNS} FROM tool_calls WHERE id = ?", (call_id,)).fetchone()
        return _row(row) if row else None

    def update(self, call_id: int, *, status: str, result: str | None = None,
               error: str | None = None, pages: tuple[str, ...] | list[str] = (),
               started: bool = False, duration_s: float | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"invalid tool call status {status!r}")
        with self._store.transaction():
            self._store.db.execute(
                "UPDATE tool_calls SET status = ?, result = ?, error = ?, pages = ?,"
                " started_at = COALESCE(started_at, ?), duration_s = ? WHERE id = ?",
                (status, result, error, json.dumps(list(pages)), utc_now() if started else None,
                 duration_s, call_id))

    def for_message(self, message_id: int) -> list[StoredCall]:
        rows = self._store.db.execute(
            f"SELECT {_COLUMNS} FROM tool_calls WHERE message_id = ? ORDER BY seq",
            (message_id,)).fetchall()
        return [_row(r) for r in rows]

    def for_messages(self, message_ids: list[int]) -> dict[int, list[StoredCall]]:
        """Calls of several answers at once (history building), by message id."""
        found: dict[int, list[StoredCall]] = {}
        for start in range(0, len(message_ids), 500):  # SQLite's parameter limit
            chunk = message_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._store.db.execute(
                    f"SELECT {_COLUMNS} FROM tool_calls WHERE message_id IN ({marks})"
                    " ORDER BY message_id, seq", chunk).fetchall():
                call = _row(row)
                found.setdefault(call.message_id, []).append(call)
        return found

    def mark_interrupted(self) -> int:
        """Calls left pending or running by a crash: cancelled (their answer is interrupted)."""
        with self._store.transaction():
            cursor = self._store.db.execute(
                "UPDATE tool_calls SET status = 'cancelled',"
                " error = COALESCE(error, 'Interrupted: Hearth stopped before the tool finished')"
                " WHERE status IN ('pending', 'running')")
        return cursor.rowcount

