"""Copies of the database in ``<data folder>/backups/``, made with SQLite's backup API.

* Before every migration: ``hearth-v<old version>-<YYYYMMDD-HHMMSS>.db``, the last
  :data:`KEEP_MIGRATION` kept.  :class:`~storage.Store` makes them itself, so no entry point
  can upgrade a database without one.
* Daily, when the caller asks (:func:`daily_backup`, meant for a worker thread after start):
  ``hearth-v<version>-<YYYYMMDD-HHMMSS>-daily.db``, the last :data:`KEEP_DAILY` kept, and
  only of a database that passes ``PRAGMA quick_check``: rotating a damaged copy in would
  push the good ones out.

A copy is written to a hidden ``.partial`` file, synced, then renamed: a backup that is
listed is complete, even if Hearth was killed while writing one.  Times in names are local.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DatabaseDamagedError, StorageError, damaged_message, translate

if TYPE_CHECKING:
    from .db import Store

BACKUP_DIRNAME = "backups"
KEEP_MIGRATION = 5
KEEP_DAILY = 2
STAMP = "%Y%m%d-%H%M%S"
_NAME = re.compile(r"^hearth-v(\d+)-(\d{8}-\d{6})(?:-(\d+))?(-daily)?\.db$")
_STALE_PARTIAL_S = 3600  # a .partial this old belongs to no running backup


@dataclass(frozen=True)
class Backup:
    path: Path
    schema_version: int  # the schema the copy has
    created: datetime  # local time, from the name
    kind: str  # "migration" (taken before an upgrade) | "daily"
    size: int  # bytes

    @property
    def label(self) -> str:
        """How a person is told about it, e.g. "the backup of 2025-03-12 14:03"."""
        return f"the backup of {self.created:%Y-%m-%d %H:%M}"


def backups_dir(database: Path) -> Path:
    return Path(database).parent / BACKUP_DIRNAME


def list_backups(database: Path) -> list[Backup]:
    """The complete backups next to ``database``, newest first (never raises)."""
    found = []
    try:
        entries = list(os.scandir(backups_dir(database)))
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match:
            continue
        try:
            created = datetime.strptime(match.group(2), STAMP)
            size = entry.stat().st_size
        except (ValueError, OSError):
            continue
        found.append(Backup(Path(entry.path), int(match.group(1)), created,
                            "daily" if match.group(4) else "migration", size))
    return sorted(found, key=lambda b: (b.created, b.path.name), reverse=True)


def newest_label(database: Path) -> str | None:
    """When the newest backup was made ("2025-03-12 14:03"), or None if there is none."""
    backups = list_backups(database)
    return f"{backups[0].created:%Y-%m-%d %H:%M}" if backups else None


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def copy_database(source: sqlite3.Connection, target: Path) -> None:
    """Write a consistent copy of ``source``'s database to ``target`` (replaced whole, or not
    at all).  Disk trouble raises a :class:`StorageError` and leaves no partial file."""
    partial: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(fd)
        partial = Path(name)
        copy = sqlite3.connect(partial)
        try:
            copy.execute("PRAGMA journal_mode = OFF")  # a new file: nothing to roll back to
            source.backup(copy)
        finally:
            copy.close()
        _fsync(partial)
        os.replace(partial, target)
        _fsync(target.parent)
    except (sqlite3.Error, OSError) as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            translated = translate(exc, target)
            if translated is not None:
                raise translated from exc
        raise StorageError(f"Hearth could not write the backup {target}: {exc}") from exc


def _unique(folder: Path, stem: str, suffix: str) -> Path:
    """``<stem><suffix>.db``, or ``<stem>-2<suffix>.db``… when a backup took that second."""
    target, n = folder / f"{stem}{suffix}.db", 2
    while target.exists():
        target, n = folder / f"{stem}-{n}{suffix}.db", n + 1
    return target


def make_backup(source: sqlite3.Connection, database: Path, version: int, kind: str,
                now: datetime | None = None) -> Backup:
    """Copy ``source`` (a connection to ``database``) into the backups folder, then keep only
    the newest of its kind."""
    folder = backups_dir(database)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"Hearth could not create its backups folder {folder}: {exc}") from exc
    stamp = (now or datetime.now()).strftime(STAMP)
    target = _unique(folder, f"hearth-v{version}-{stamp}", "-daily" if kind == "daily" else "")
    copy_database(source, target)
    prune(database)
    return next(b for b in list_backups(database) if b.path == target)


def prune(database: Path, keep_migration: int = KEEP_MIGRATION, keep_daily: int = KEEP_DAILY) -> None:
    """Delete the backups beyond the newest few of each kind, and abandoned partial files."""
    backups = list_backups(database)
    for kind, keep in (("migration", keep_migration), ("daily", keep_daily)):
        for old in [b for b in backups if b.kind == kind][keep:]:
            old.path.unlink(missing_ok=True)
    try:
        partials = list(backups_dir(database).glob(".*.partial"))
    except OSError:
        return
    for partial in partials:
        try:
            if time.time() - partial.stat().st_mtime > _STALE_PARTIAL_S:
                partial.unlink()
        except OSError:
            pass


def quick_check(conn: sqlite3.Connection, tables: list[str] | None = None) -> list[str]:
    """``PRAGMA quick_check`` of the whole database, or of ``tables`` and their indexes:
    the problems it finds ([] when sound).  Damage that stops the check itself is reported
    as one problem, like any other."""
    problems: list[str] = []
    try:
        for table in tables if tables is not None else [None]:
            pragma = "PRAGMA quick_check" if table is None else f'PRAGMA quick_check("{table}")'
            rows = [str(r[0]) for r in conn.execute(pragma).fetchall()]
            problems += [r for r in rows if r != "ok"]
    except DatabaseDamagedError as exc:
        problems.append(str(exc.__cause__ or exc))
    except sqlite3.DatabaseError as exc:
        problems.append(str(exc))
    return problems


def daily_backup(store: Store, now: datetime | None = None) -> Backup | None:
    """Make today's backup unless one exists; None when there was nothing to do (one today
    already, or an in-memory store).  Checks the database first and raises
    :class:`DatabaseDamagedError` instead of copying a damaged one.  Takes seconds on a
    large database (about 5 s per GB here): call it on a worker thread, with its own Store."""
    if store.path == Path(":memory:") or store.read_only:
        return None
    now = now or datetime.now()
    if any(b.kind == "daily" and b.created.date() == now.date()
           for b in list_backups(store.path)):
        return None
    problems = quick_check(store.conn)
    if problems:
        raise DatabaseDamagedError(damaged_message(store.path, problems[0],
                                                   newest_label(store.path)))
    return make_backup(store.conn, store.path, store.schema_version, "daily", now)
