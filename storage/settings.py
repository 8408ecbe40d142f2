"""Key/value application settings, values stored as JSON (e.g. the last model path)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .clock import utc_now
from .errors import stored_json

if TYPE_CHECKING:
    from .db import Store


class Settings:
    """``store.settings``: JSON-serializable values under string keys."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: str, default: Any = None) -> Any:
        """The stored value, or ``default`` if the key was never set (or deleted).

        A stored ``None`` is returned as None, not as ``default``.
        """
        row = self._store.db.execute(
            "SELECT value FROM settings WHERE key = ?", (key,)
        ).fetchone()
        return default if row is None else stored_json(row[0], default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (anything ``json.dumps`` accepts; TypeError otherwise).

        JSON has no tuples and only string object keys, so a tuple reads back
        as a list and ``{1: x}`` as ``{"1": x}``.
        """
        if not isinstance(key, str):
            raise TypeError(f"setting key must be a str, not {type(key).__name__}")
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        with self._store.transaction():
            self._store.db.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, encoded, utc_now()),
            )

    def with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every setting whose key starts with ``prefix`` (e.g. all per-model settings)."""
        # substr, not LIKE: LIKE ignores ASCII case and treats _ and % as wildcards.
        rows = self._store.db.execute(
            "SELECT key, value FROM settings WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        ).fetchall()
        return {key: stored_json(value, None) for key, value in rows}

    def delete(self, key: str) -> bool:
        """Forget ``key``; False if it was not set."""
        with self._store.transaction():
            cursor = self._store.db.execute("DELETE FROM settings WHERE key = ?", (key,))
        return cursor.rowcount > 0

    def __contains__(self, key: str) -> bool:
        row = self._store.db.execute("SELECT 1 FROM settings WHERE key = ?", (key,)).fetchone()
        return row is not None
