"""Opening the database at start-up, whatever state the disk left it in.

:func:`open_store` always hands back a usable :class:`Store` and a :class:`StartupReport`
saying what it found (it raises only :class:`~storage.SchemaTooNewError`, and a
:class:`DatabaseDamagedError` when a damaged database is still open in another process):

* damaged (not a SQLite file, truncated, pages or header corrupted): the file and its
  ``-wal``/``-shm`` are renamed ``hearth.db.damaged-YYYYMMDD-HHMMSS`` (never deleted), a new
  database is started, and the report lists the backups :func:`restore_backup` can bring back;
* a read-only file or folder, a folder that cannot be created, a disk too full to open:
  opened read-only (``Store.read_only``; writes raise ``StorageReadOnlyError``);
* answers left ``streaming`` by a process that died: marked interrupted, only when no other
  Hearth process has the database open (one may be writing them right now; see
  :mod:`storage.inuse`).

The integrity check (``PRAGMA quick_check``) costs about 3 ms per MB with the file in the
page cache and 8 ms per MB from a cold disk (2.3-2.6 s / 6.9 s for the 850 MiB,
1,000,000-message benchmark database), against a 1 s cold-start budget.  So every start
checks the schema and the small tables (conversations, settings, prompts, documents:
12 ms warm, 40-70 ms cold on that database), and the whole file when it is at most
:data:`FULL_CHECK_MAX_BYTES`, or at most :data:`UNCLEAN_CHECK_MAX_BYTES` after an unclean
shutdown (a ``-wal`` file left behind while no other Hearth had it open).  Larger files get
their full check from :func:`storage.daily_backup`, which refuses to copy a damaged one;
damage met in between raises ``DatabaseDamagedError``, and the next start sets it aside.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import inuse, readonly
from .backups import STAMP, Backup, copy_database, list_backups, quick_check
from .db import BUSY_TIMEOUT_MS, Store, database_path
from .errors import (DatabaseDamagedError, GuardedConnection, StorageError,
                     StorageFullError, StorageReadOnlyError, is_damage)
from .migrations import SchemaTooNewError, latest_version

FULL_CHECK_MAX_BYTES = 16 * 2**20  # ~50 ms warm, ~130 ms cold (~18,000 messages)
UNCLEAN_CHECK_MAX_BYTES = 256 * 2**20  # ~0.8 s warm, ~2 s cold, once after a crash
SMALL_TABLES = ("conversations", "settings", "prompts", "prompt_versions", "model_files",
                "documents")
_SIDECARS = ("-wal", "-shm")
# A newer Hearth's schema is refused as such (SchemaTooNewError); a version field this far
# ahead is a damaged header instead.
_NEWER_VERSIONS_BELIEVABLE = 1000


@dataclass(frozen=True)
class StartupReport:
    path: Path  # the database file (for a read-only session without one: where it would be)
    read_only: bool = False
    read_only_reason: str | None = None  # one line for the banner, when read_only
    set_aside: Path | None = None  # where a damaged database was moved
    damage: str | None = None  # what the check found wrong with it
    backups: list[Backup] = field(default_factory=list)  # newest first, for restore_backup
    check: str = "partial"  # "full" | "partial" (schema and small tables) | "none"
    unclean: bool = False  # the last process using it did not close it
    interrupted: int = 0  # answers found cut off and marked interrupted
    migrated_from: int | None = None  # schema version before this start upgraded it
    migration_backup: Backup | None = None  # the copy made before that upgrade

    @property
    def notice(self) -> str | None:
        """One line for the window's banner or the CLI's stderr; None when all is well."""
        if self.damage is not None:
            if self.set_aside is not None:
                head = (f"Hearth's database was damaged ({self.damage}); it was set aside as "
                        f"{self.set_aside.name}, nothing deleted, and a new one started.")
            else:
                head = f"Hearth's database is damaged ({self.damage}) and could not be set aside."
            if self.backups:
                head += f" You can restore {self.backups[0].label}."
            if self.read_only_reason:
                head += " " + self.read_only_reason
            return head
        return self.read_only_reason if self.read_only else None


def set_aside(database: Path, why: str = "damaged", now: datetime | None = None) -> Path:
    """Rename ``database`` with its ``-wal``/``-shm`` to ``<name>.<why>-YYYYMMDD-HHMMSS``
    (plus ``-wal``/``-shm``: SQLite still opens the trio together); nothing is deleted.
    The sidecars move first and come back if the database cannot, so a new database is
    never paired with an old ``-wal``.  OSError if the folder cannot be written."""
    stamp = (now or datetime.now()).strftime(STAMP)
    target, n = database.with_name(f"{database.name}.{why}-{stamp}"), 2
    while any(Path(f"{target}{s}").exists() for s in ("", *_SIDECARS)):
        target, n = database.with_name(f"{database.name}.{why}-{stamp}-{n}"), n + 1
    moved = []
    try:
        for suffix in _SIDECARS:
            sidecar = Path(f"{database}{suffix}")
            if sidecar.exists():
                os.rename(sidecar, f"{target}{suffix}")
                moved.append(suffix)
        os.rename(database, target)
    except OSError:
        for suffix in moved:
            os.rename(f"{target}{suffix}", f"{database}{suffix}")
        raise
    return target


def _writable(database: Path) -> str | None:
    """Why ``database`` cannot be written (a line for the user), or None if it can."""
    folder = database.parent
    if not folder.is_dir():
        return (f"Hearth cannot create its data folder {folder}: nothing is saved in this "
                "session.")
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"Hearth's data folder {folder} is read-only: your chats can be read, but "
                "nothing new is saved.")
    if database.exists() and not os.access(database, os.W_OK):
        return (f"Hearth's database {database} is read-only: your chats can be read, but "
                "nothing new is saved.")
    return None


def _probe(database: Path, full: bool) -> list[str]:
    """What is wrong with ``database`` ([] if nothing): the schema is read (a bad header or
    schema fails there), then ``quick_check`` of everything or of the small tables."""
    if not database.exists():
        return []
    if not database.is_file():
        return ["it is not a file"]
    # Read-only: closing a read-write connection to a file with a bad header deletes its
    # -wal, which must go aside with it.
    conn = sqlite3.connect(database.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                           timeout=BUSY_TIMEOUT_MS / 1000, factory=GuardedConnection)
    try:
        conn.hearth_path = database
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not 0 <= version <= latest_version() + _NEWER_VERSIONS_BELIEVABLE:
            return [f"its schema version field reads {version}"]
        return quick_check(conn, None if full else [t for t in SMALL_TABLES if t in tables])
    except DatabaseDamagedError as exc:
        return [str(exc.__cause__ or exc)]
    finally:
        conn.close()


def _opening_failed(database: Path, exc: StorageError) -> tuple[Store, StartupReport]:
    if isinstance(exc, StorageFullError):
        return _fallback(database, "The disk is full: Hearth opened your chats read-only. Free "
                         "some space and restart Hearth to save again.",
                         refusal="Hearth cannot save: the disk was full when it started. Free "
                         "some space and restart Hearth.")
    return _fallback(database, f"Hearth opened its database read-only: {exc}",
                     refusal=f"Hearth cannot save in this session: {exc}")


def _fallback(database: Path, reason: str, damage: str | None = None,
              refusal: str | None = None) -> tuple[Store, StartupReport]:
    """A read-only session: on the file if it can be read, else on an empty database in
    memory (so the window still opens and says why).  ``refusal`` is what a write is told
    (default: that the file or folder is read-only)."""
    store, report = _read_only_session(database, reason, damage)
    store.conn.hearth_read_only_why = refusal
    return store, report


def _read_only_session(database: Path, reason: str, damage: str | None) -> tuple[Store, StartupReport]:
    backups = list_backups(database)
    if damage is None and database.is_file():
        try:
            full = database.stat().st_size <= FULL_CHECK_MAX_BYTES
            store = Store(database, read_only=True)
            problems = quick_check(store.conn, None if full else [
                t for t in SMALL_TABLES if store.db[t].exists()])
            if not problems:
                return store, StartupReport(database, True, reason, backups=backups,
                                            check="full" if full else "partial")
            store.close()
            damage = problems[0]
        except SchemaTooNewError:
            raise
        except StorageReadOnlyError as exc:  # too old to upgrade in place, too big for memory
            reason = str(exc)
        except (StorageError, sqlite3.Error) as exc:
            if is_damage(exc) or is_damage(exc.__cause__ or exc):
                damage = str(exc.__cause__ or exc)
            else:
                reason = f"{reason} ({exc})"
    store = Store(":memory:", read_only=True)
    store.conn.hearth_path = database
    return store, StartupReport(database, True, reason, damage=damage, backups=backups,
                                check="none")


def open_store(path: str | os.PathLike[str] | None = None, *,
               busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> tuple[Store, StartupReport]:
    """Open Hearth's database (default: the data folder's ``hearth.db``) for a session:
    checked, upgraded (after a backup), set aside if damaged, read-only if it must be, cut-off
    answers recovered.  See the module's docstring."""
    database = Path(path) if path is not None else database_path()
    reason = _writable(database)
    if reason is not None:
        refusal = None if database.parent.is_dir() else (
            f"Hearth cannot save: its data folder {database.parent} could not be created.")
        return _fallback(database, reason, refusal=refusal)
    wal = Path(f"{database}-wal")
    wal_left = wal.exists() and wal.stat().st_size > 0
    with inuse.exclusive(database) as alone:
        unclean = alone and wal_left
    size = database.stat().st_size if database.is_file() else 0
    full = size <= FULL_CHECK_MAX_BYTES or (unclean and size <= UNCLEAN_CHECK_MAX_BYTES)
    aside = damage = None
    try:
        problems = _probe(database, full)
    except StorageError as exc:  # not damage (that is a problem above): disk or permissions
        return _opening_failed(database, exc)
    for attempt in range(2):
        if problems:
            damage = problems[0]
            aside = _set_aside_alone(database, damage)
            if aside is None:
                return _fallback(database, "Its folder cannot be written, so Hearth opened an "
                                 "empty database, read-only.", damage)
        try:
            store = Store(database, busy_timeout_ms=busy_timeout_ms)
            break
        except SchemaTooNewError:
            raise
        except StorageError as exc:
            if not is_damage(exc):
                return _opening_failed(database, exc)
            if attempt:  # a new database, damaged at once: the disk itself is failing
                return _fallback(database, f"Hearth opened an empty database, read-only: {exc}",
                                 damage)
            problems = [str(exc.__cause__ or exc)]  # damage the partial check did not see
    interrupted = 0
    try:
        interrupted = store.messages.mark_interrupted()  # only when no other Hearth is running
    except StorageError:
        pass  # a full disk: the answers stay 'streaming' until a start that can write
    return store, StartupReport(
        database, set_aside=aside, damage=damage, backups=list_backups(database),
        check="full" if full else "partial", unclean=unclean, interrupted=interrupted,
        migrated_from=store.migrated_from, migration_backup=store.migration_backup)


def _set_aside_alone(database: Path, damage: str) -> Path | None:
    """Set the damaged database aside; None if its folder will not let us.  Refused with
    DatabaseDamagedError while another process has it open: that process would go on
    writing into the set-aside file, and its chats would seem lost."""
    with inuse.exclusive(database) as alone:
        if not alone:
            raise DatabaseDamagedError(
                f"Hearth's database ({database}) is damaged ({damage}), and another Hearth "
                "window or command has it open: close them all, then start Hearth again to "
                "set it aside (nothing is deleted) and start a new one.")
        try:
            return set_aside(database)
        except OSError:
            return None


def restore_backup(backup: Backup, path: str | os.PathLike[str] | None = None) -> Path | None:
    """Make ``backup`` the database again; return where the current database was set aside
    (``hearth.db.before-restore-YYYYMMDD-HHMMSS``; None if there was none).  Close every
    Store first, then call :func:`open_store` (it upgrades an older backup, after backing
    it up in turn).  Raises DatabaseDamagedError for a damaged backup (nothing changes) and
    StorageError while another Hearth process has the database open."""
    database = Path(path) if path is not None else database_path()
    if inuse.open_here(database):
        raise RuntimeError(f"close every Store on {database} before restoring a backup")

    def refuse(why: object) -> DatabaseDamagedError:
        return DatabaseDamagedError(f"{backup.label.capitalize()} ({backup.path}) is damaged "
                                    f"too ({why}): choose another. Nothing was changed.")

    try:
        source = readonly.connect(backup.path, BUSY_TIMEOUT_MS)
    except (StorageError, sqlite3.Error) as exc:
        raise refuse(exc.__cause__ or exc) from exc
    try:
        source.hearth_path = backup.path
        problems = quick_check(source)
        if problems:
            raise refuse(problems[0])
        version = source.execute("PRAGMA user_version").fetchone()[0]
        if not 1 <= version <= latest_version():
            raise refuse(f"schema version {version}")
        # Copied next to the database first: a disk that fills up stops the restore before
        # the current database has moved.
        restoring = database.with_name(f".{database.name}.restoring")
        copy_database(source, restoring)
    finally:
        source.close()
    try:
        with inuse.exclusive(database) as alone:
            if not alone:
                raise StorageError("Another Hearth window or command has the database open: "
                                   "close them all, then restore the backup again.")
            aside = set_aside(database, "before-restore") if database.exists() else None
            os.replace(restoring, database)
    except BaseException:
        restoring.unlink(missing_ok=True)
        raise
    return aside
