"""Where the database lives, and :class:`Store`, one connection to it.

Open one ``Store`` per thread (the GUI thread reads while the inference
thread writes the streaming answer); the connection refuses use from another
thread.  All Stores on the same file see each other's committed writes.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs
from sqlite_utils import Database

from . import inuse, readonly
from . import schema  # noqa: F401  (registers the migrations)
from .backups import Backup, make_backup, newest_label
from .conversations import Conversations
from .documents.store import Documents
from .errors import GuardedConnection, StorageError, read_only_error, translate
from .library.folders import Library
from .messages import Messages
from .migrations import apply_migrations, schema_version
from .model_files import ModelFiles
from .prompts import Prompts
from .search import SearchHit, search
from .settings import Settings
from .tool_calls import ToolCalls

APP_NAME = "Hearth"
DATA_DIR_ENV = "HEARTH_DATA_DIR"
DATABASE_FILENAME = "hearth.db"
BUSY_TIMEOUT_MS = 5000


def _pointer_file() -> Path:
    """Where Settings records a data folder the user moved (outside the data folder itself)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "data-folder"


def default_data_dir() -> Path:
    """``$HEARTH_DATA_DIR`` if set, else the folder chosen in Settings, else the platform's
    user data folder; created if possible (a folder that cannot be created is returned all
    the same: :func:`storage.open_store` then opens read-only and says why)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        folder = Path(override).expanduser()
    else:
        try:
            chosen = _pointer_file().read_text(encoding="utf-8").strip()
        except OSError:
            chosen = ""
        folder = Path(chosen) if chosen else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return folder


def move_data_dir(store: Store, target: str | os.PathLike[str]) -> Path:
    """Use `target` as the data folder from the next start: the database is copied there
    (SQLite's backup API: consistent while in use) unless one is there already. The old folder
    is left as it was. Has no effect while ``$HEARTH_DATA_DIR`` is set."""
    target = Path(target).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    destination = target / DATABASE_FILENAME
    if not destination.exists():
        with sqlite3.connect(destination) as copy:
            store.conn.backup(copy)
        copy.close()
    pointer = _pointer_file()
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(str(target), encoding="utf-8")
    return target


def database_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The database file inside ``data_dir`` (default: :func:`default_data_dir`)."""
    folder = default_data_dir() if data_dir is None else Path(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # as default_data_dir
    return folder / DATABASE_FILENAME


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Switch to WAL, retrying while another connection is doing the same.

    Creating a new database from two threads at once makes this PRAGMA fail
    with "database is locked" at once (SQLite skips the busy handler where
    waiting could deadlock), so retry until the busy timeout has passed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


class Store:
    """One SQLite connection to Hearth's database, migrated to the latest schema.

    Table families hang off it: ``store.conversations``, ``store.messages``,
    ``store.settings``, ``store.model_files``, ``store.prompts``,
    ``store.documents``, ``store.tool_calls``, ``store.library``; plus
    ``store.search(...)`` and ``store.transaction()``.  ``store.db`` is the
    underlying ``sqlite_utils.Database`` for anything else.

    A damaged file, a full disk or a read-only folder surface as a
    :class:`~storage.errors.StorageError` (see :mod:`storage.errors`).  Before a
    migration the database is copied to ``backups/`` (see :mod:`storage.backups`).
    ``read_only=True`` opens without writing anything (see :mod:`storage.readonly`);
    :func:`storage.open_store` picks it by itself where the folder cannot be written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        read_only: bool = False,
        _memory_name: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else database_path()
        self.read_only = read_only
        self._busy_timeout_ms = busy_timeout_ms
        self._counted = False  # holds a share of the in-use lock (storage.inuse)
        self.migrated_from: int | None = None  # the schema version this open upgraded from
        self.migration_backup: Backup | None = None  # the copy taken before that upgrade
        in_memory = str(self.path) == ":memory:"
        if read_only:
            conn = readonly.connect(self.path, busy_timeout_ms)
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # isolation_level=None: no implicit transactions; we BEGIN ourselves.
                # An in-memory database is named and shared, so reopen() (a tool's thread)
                # reaches the same one; it lives while a connection to it is open.
                self._memory_name = _memory_name or f"hearth-memory-{uuid.uuid4().hex}"
                target = (f"file:{self._memory_name}?mode=memory&cache=shared" if in_memory
                          else self.path)
                conn = sqlite3.connect(target, timeout=busy_timeout_ms / 1000, uri=in_memory,
                                       isolation_level=None, factory=GuardedConnection)
            except (OSError, sqlite3.Error) as exc:
                translated = isinstance(exc, sqlite3.Error) and translate(exc, self.path)
                raise translated or StorageError(
                    f"Hearth cannot open its database ({self.path}): {exc}") from exc
        conn.hearth_path = self.path
        if not in_memory:
            conn.hearth_newest_backup = lambda: newest_label(self.path)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if read_only:
                conn, self.journal_mode = readonly.upgraded(conn, self.path)
                self.db = Database(conn, recursive_triggers=False, execute_plugins=False)
                self.schema_version = schema_version(self.db)
            else:
                if not in_memory:
                    inuse.acquire(self.path)
                    self._counted = True
                self.journal_mode = _enable_wal(conn, busy_timeout_ms / 1000)
                conn.execute("PRAGMA synchronous = NORMAL")
                self.db = Database(conn, recursive_triggers=False, execute_plugins=False)
                self.schema_version = apply_migrations(
                    self.db, before=None if in_memory else self._backup_before_migration)
        except BaseException:
            conn.close()
            self._release()
            raise
        self._depth = 0
        self._closed = False
        self.conversations = Conversations(self)
        self.messages = Messages(self)
        self.settings = Settings(self)
        self.model_files = ModelFiles(self)
        self.prompts = Prompts(self)
        self.documents = Documents(self)
        self.tool_calls = ToolCalls(self)
        self.library = Library(self)

    def reopen(self) -> Store:
        """Another connection to the same database in the same mode (read-only, and why),
        for another thread: what :func:`storage.open_store` decided holds there too."""
        other = Store(self.path, busy_timeout_ms=self._busy_timeout_ms, read_only=self.read_only,
                      _memory_name=getattr(self, "_memory_name", None))
        other.conn.hearth_path = self.conn.hearth_path
        other.conn.hearth_read_only_why = self.conn.hearth_read_only_why
        return other

    def _backup_before_migration(self, version: int) -> None:
        # Read through a second connection: this one holds the write lock (see apply_migrations).
        source = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            self.migration_backup = make_backup(source, self.path, version, "migration")
        finally:
            source.close()
        self.migrated_from = version

    def _release(self) -> None:
        if self._counted:
            inuse.release(self.path)
            self._counted = False

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Group writes atomically: all commit together or none do.

        The outermost block takes the write lock up front (``BEGIN
        IMMEDIATE``, waiting up to the busy timeout for other writers);
        nested blocks become savepoints, so an exception caught inside an
        outer block undoes only the inner block's writes.
        """
        if self.read_only:
            raise read_only_error(self.conn.hearth_path, self.conn.hearth_read_only_why)
        conn = self.conn
        undo: tuple[str, ...]
        if self._depth == 0:
            begin, commit, undo = "BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",)
        else:
            name = f"hearth_sp{self._depth}"
            begin, commit = f"SAVEPOINT {name}", f"RELEASE {name}"
            undo = (f"ROLLBACK TO {name}", f"RELEASE {name}")
        conn.execute(begin)
        self._depth += 1
        try:
            yield self
            conn.execute(commit)
        except BaseException:
            if conn.in_transaction:
                for statement in undo:
                    conn.execute(statement)
            raise
        finally:
            self._depth -= 1

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Full-text search over message content and reasoning, best match first;
        deleted messages and trashed conversations left out (see :mod:`storage.search`)."""
        return search(self.db, query, limit)

    def close(self) -> None:
        """Close the connection; uncommitted writes are discarded. Idempotent."""
        if not self._closed:
            self.conn.close()
            self._closed = True
            self._release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        version = getattr(self, "schema_version", None)
        mode = " read-only" if getattr(self, "read_only", False) else ""
        return f"<Store {str(self.path)!r} schema_version={version}{mode}>"
