"""What can go wrong with the disk under the database, as errors a person can act on.

SQLite reports a damaged file, a full disk or a read-only folder as ``sqlite3`` errors
carrying a result code; :class:`GuardedConnection` (the connection every :class:`Store`
uses) turns those into the :class:`StorageError` family below, wherever they surface: at
``execute``, while rows are fetched, or at ``COMMIT``.  Other ``sqlite3`` errors (a
constraint, bad SQL) are bugs or caller errors and pass through unchanged.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common.errors import UserError

# Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
SQLITE_ERROR = 1
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26
DAMAGE_CODES = (SQLITE_CORRUPT, SQLITE_NOTADB)
_BATCH = 256
FULL_BELOW_BYTES = 1024 * 1024  # free space under which an I/O error is called a full disk


class StorageError(UserError):
    """The database's file or disk failed us; the message says what to do."""


class DatabaseDamagedError(StorageError):
    """The database file is damaged (SQLITE_CORRUPT / SQLITE_NOTADB)."""


class StorageReadOnlyError(StorageError):
    """A write to a database opened read-only (or a file or folder that cannot be written)."""


class StorageFullError(StorageError):
    """The disk (or the file-size limit) is full; the write was rolled back."""


class StorageIOError(StorageError):
    """The operating system failed a read or write of the database (SQLITE_IOERR)."""


def primary_code(exc: BaseException) -> int | None:
    """The SQLite primary result code of a ``sqlite3.Error``, or None."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _damage_code(exc: BaseException) -> bool:
    # A header whose format bytes were damaged is reported as a plain SQLITE_ERROR.
    return primary_code(exc) in DAMAGE_CODES or (
        primary_code(exc) == SQLITE_ERROR and str(exc) == "unsupported file format")


def is_damage(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseDamagedError) or _damage_code(exc)


def damaged_message(path: Path | str, detail: str, newest_backup: str | None) -> str:
    """``newest_backup``: when the newest backup was made, e.g. "2025-03-12 14:03"."""
    where = f"Hearth's database ({path}) is damaged ({detail})."
    if newest_backup:
        return (f"{where} Your chats up to {newest_backup} are safe in a backup, and the rest "
                "is still in the file. Quit Hearth and start it again: it sets the damaged "
                "file aside, never deleting it, and offers that backup.")
    return (f"{where} What was saved before this moment is still in the file. Quit Hearth and "
            "start it again: it sets the damaged file aside, never deleting it, and starts a "
            "new one.")


def full_error(path: Path | str) -> StorageFullError:
    return StorageFullError(
        f"The disk is full: Hearth could not save the last change to {path}. Free some "
        "space and try again; everything saved before is kept.")


def _disk_full(path: Path | str) -> bool:
    try:
        return shutil.disk_usage(Path(path).resolve().parent).free < FULL_BELOW_BYTES
    except (OSError, ValueError):
        return False


def read_only_error(path: Path | str, why: str | None = None) -> StorageReadOnlyError:
    """``why``: what a session opened read-only for another reason (a full disk) says."""
    return StorageReadOnlyError(why or (
        f"Hearth cannot save: its database ({path}) or its folder is read-only. Make the "
        "folder writable and restart Hearth; your chats can still be read."))


def translate(exc: sqlite3.Error, path: Path | str,
              newest_backup: Callable[[], str | None] = lambda: None) -> StorageError | None:
    """The :class:`StorageError` for ``exc``, or None when it is not about the disk.

    ``newest_backup`` is called only for damage, to say up to when the data is safe."""
    code = primary_code(exc)
    if _damage_code(exc):
        return DatabaseDamagedError(damaged_message(path, str(exc), newest_backup()))
    if code == SQLITE_FULL:
        return full_error(path)
    if code == SQLITE_READONLY:
        return read_only_error(path)
    if code == SQLITE_CANTOPEN:
        return StorageError(
            f"Hearth cannot open its database ({path}): the file or its folder cannot be "
            "opened. Check that they exist and that you may read and write them.")
    if code == SQLITE_IOERR and _disk_full(path):  # ENOSPC met where SQLite says IOERR (-shm…)
        return full_error(path)
    if code == SQLITE_IOERR:
        return StorageIOError(
            f"The disk failed while Hearth was using its database ({path}: "
            f"{getattr(exc, 'sqlite_errorname', exc)}). The last change was not saved; "
            "everything saved before is kept. Check the disk, then restart Hearth.")
    return None


def stored_json(text: str, default: Any, kind: type | None = None) -> Any:
    """A JSON column's value; ``default`` when its bytes were damaged (PRAGMA quick_check
    cannot see that) or it is not of ``kind``: one flipped byte must not make a whole chat
    unreadable."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return default
    return default if kind is not None and not isinstance(value, kind) else value


def _tolerant(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _bad_text(exc: BaseException) -> bool:
    """Text that is not UTF-8: a flipped byte in a page that PRAGMA quick_check cannot see."""
    return isinstance(exc, UnicodeDecodeError) or (
        isinstance(exc, sqlite3.OperationalError) and primary_code(exc) is None
        and str(exc).startswith("Could not decode to UTF-8"))


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose disk failures surface as :class:`StorageError`, fetches included.

    Text that is not valid UTF-8 is read with U+FFFD in place of the bad bytes: the
    connection switches to a tolerant decoder (only then: it costs ~250 ns a value), the
    statement runs again and the rows already handed out are skipped."""

    _statement: tuple[Any, ...] = ()
    _handed = 0  # rows returned since the statement ran

    def _fail(self, exc: BaseException) -> None:
        if isinstance(exc, UnicodeDecodeError):  # in the error message SQLite wrote, which
            # quotes damaged bytes (e.g. "malformed database schema (…)")
            raise self.connection._damaged("an error SQLite could not spell") from exc  # type: ignore[attr-defined]
        translated = self.connection._translate(exc)  # type: ignore[attr-defined]
        if translated is None:
            raise exc
        raise translated from exc

    def _guard(self, call: Callable[[], Any], rerun: bool) -> Any:
        try:
            return call()
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            if (not _bad_text(exc) or self.connection.text_factory is _tolerant
                    or "RETURNING" in str(self._statement[:1]).upper()):  # would write twice
                self._fail(exc)
            self.connection.text_factory = _tolerant
        try:
            if rerun:
                sqlite3.Cursor.execute(self, *self._statement)
                if self._handed:
                    sqlite3.Cursor.fetchmany(self, self._handed)
            return call()
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            self._fail(exc)

    def execute(self, *args: Any) -> GuardedCursor:  # type: ignore[override]
        self._statement, self._handed = args, 0
        return self._guard(lambda: sqlite3.Cursor.execute(self, *args), rerun=False)

    def executemany(self, *args: Any) -> GuardedCursor:  # type: ignore[override]
        self._statement, self._handed = (), 0
        return self._guard(lambda: sqlite3.Cursor.executemany(self, *args), rerun=False)

    def fetchone(self) -> Any:
        row = self._guard(lambda: sqlite3.Cursor.fetchone(self), rerun=True)
        self._handed += row is not None
        return row

    def fetchmany(self, *args: Any) -> list[Any]:
        rows = self._guard(lambda: sqlite3.Cursor.fetchmany(self, *args), rerun=True)
        self._handed += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = self._guard(lambda: sqlite3.Cursor.fetchall(self), rerun=True)
        self._handed += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        # Rows come in batches through fetchmany (guarded, and C-speed within a batch): a
        # Python __next__ would cost about 1 µs a row, 10 ms on a 10,000-chat sidebar.
        while batch := self.fetchmany(_BATCH):
            yield from batch


class GuardedConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=GuardedConnection)``; ``Store`` sets ``hearth_path``
    (named in messages) and ``hearth_newest_backup`` (a callable) after connecting, and
    :func:`storage.open_store` ``hearth_read_only_why`` when it fell back to read-only."""

    hearth_path: Path | str = "the database"
    hearth_newest_backup: Callable[[], str | None] = staticmethod(lambda: None)
    hearth_read_only_why: str | None = None  # see read_only_error

    def _damaged(self, detail: str) -> DatabaseDamagedError:
        return DatabaseDamagedError(damaged_message(self.hearth_path, detail,
                                                    self.hearth_newest_backup()))

    def _translate(self, exc: sqlite3.Error) -> StorageError | None:
        if primary_code(exc) == SQLITE_READONLY and self.hearth_read_only_why:
            return read_only_error(self.hearth_path, self.hearth_read_only_why)
        return translate(exc, self.hearth_path, self.hearth_newest_backup)

    def cursor(self, factory: Any = GuardedCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, *args: Any) -> GuardedCursor:  # type: ignore[override]
        return self.cursor().execute(*args)

    def executemany(self, *args: Any) -> GuardedCursor:  # type: ignore[override]
        return self.cursor().executemany(*args)

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc
