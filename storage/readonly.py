"""Opening the database without writing to it: a read-only file or folder, or a full disk.

SQLite opens a WAL database read-only (``mode=ro``) as long as it can use the ``-shm``
file; in a folder it cannot write, or on a full disk, without one, only ``immutable=1``
works, which also skips a ``-wal`` left behind (changes still in it are not shown).  A database whose schema
is older than this Hearth cannot be upgraded in place, so it is copied into memory and
upgraded there, up to :data:`UPGRADE_IN_MEMORY_MAX_BYTES`.  Every connection here also sets
``PRAGMA query_only``: nothing is ever written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from .errors import (SQLITE_CANTOPEN, SQLITE_IOERR, SQLITE_READONLY, GuardedConnection, StorageError,
                     StorageReadOnlyError, primary_code)
from .migrations import apply_migrations, latest_version, schema_version

UPGRADE_IN_MEMORY_MAX_BYTES = 512 * 1024 * 1024


def _connect(target: str, busy_timeout_ms: int, uri: bool) -> GuardedConnection:
    return sqlite3.connect(target, timeout=busy_timeout_ms / 1000, isolation_level=None,  # type: ignore[return-value]
                           uri=uri, factory=GuardedConnection, check_same_thread=True)


def connect(path: Path, busy_timeout_ms: int) -> GuardedConnection:
    """A read-only connection to ``path`` (an existing file, or ``:memory:``)."""
    if str(path) == ":memory:":
        return _connect(":memory:", busy_timeout_ms, uri=False)
    if not path.is_file():
        raise StorageReadOnlyError(f"There is no Hearth database at {path}, and Hearth cannot "
                                   "create one there: the folder is read-only.")
    base = path.resolve().as_uri()
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        conn = _connect(base + query, busy_timeout_ms, uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except (sqlite3.Error, StorageError) as exc:
            conn.close()
            code = primary_code(exc) or primary_code(exc.__cause__)  # type: ignore[arg-type]
            if code not in (SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_IOERR) or "immutable" in query:
                raise
    raise AssertionError("unreachable")


def upgraded(conn: GuardedConnection, path: Path) -> tuple[GuardedConnection, str]:
    """``conn`` made read-only at the latest schema, and its journal mode: the file itself
    when it is up to date, else an upgraded copy in memory."""
    version = schema_version(Database(conn))
    if version < latest_version():
        in_memory = str(path) == ":memory:"
        if not in_memory:
            size = path.stat().st_size
            if size > UPGRADE_IN_MEMORY_MAX_BYTES:
                raise StorageReadOnlyError(
                    f"Hearth's database ({path}) was written by an older Hearth and must be "
                    "upgraded, which cannot be done while its folder is read-only (and it is "
                    f"too large, {size // 2**20} MB, to upgrade in memory). Make the folder "
                    "writable and restart Hearth.")
            copy = _connect(":memory:", 5000, uri=False)
            copy.hearth_path, copy.hearth_newest_backup = conn.hearth_path, conn.hearth_newest_backup
            conn.backup(copy)
            conn.close()
            conn = copy
            conn.execute("PRAGMA foreign_keys = ON")
        apply_migrations(Database(conn, recursive_triggers=False, execute_plugins=False))
    else:
        apply_migrations(Database(conn, recursive_triggers=False, execute_plugins=False))  # refuses a newer schema
    journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    conn.execute("PRAGMA query_only = 1")
    return conn, journal_mode
