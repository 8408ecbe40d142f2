"""``store.library``: the folders a person chose, the files found in them, and their state.

A folder's files are rows of ``library_files``: 'pending' until read, then 'indexed' (linked
to the document holding their text) or 'skipped' (with the reason).  Scanning and indexing
(:mod:`storage.library.sync`) move rows between these states; this module only reads and
writes rows.  Removing a folder removes its rows at once (search no longer finds them); the
documents they used are deleted after the next pass, unless a chat attached them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import UserError
from common.text import display_name, display_path

from ..clock import utc_now
from ..errors import stored_json
from .walk import DEFAULT_EXCLUDE

if TYPE_CHECKING:
    from ..db import Store

STATUSES = ("pending", "indexed", "skipped")
_FOLDER_COLUMNS = "id, path, name, include, exclude, added_at, scanned_at"
_FILE_COLUMNS = ("id, folder_id, path, size, mtime_ns, sha256, document_id, status, reason,"
                 " updated_at")


class LibraryError(UserError):
    """A folder Hearth cannot add or find, said for the person."""


@dataclass(frozen=True)
class LibraryFolder:
    id: int
    path: str  # absolute; os.fsdecode'd (surrogate escapes for bytes that are not UTF-8)
    name: str  # the last component, safe to show
    include: tuple[str, ...]  # globs; (): every type Hearth reads
    exclude: tuple[str, ...]  # globs against names and relative paths
    added_at: str
    scanned_at: str | None  # last complete scan; None: never

    @property
    def shown_path(self) -> str:
        return display_path(self.path)


@dataclass(frozen=True)
class LibraryFile:
    id: int
    folder_id: int
    path: str  # relative to the folder, '/'-separated, os.fsdecode'd
    size: int
    mtime_ns: int
    sha256: str | None
    document_id: int | None
    status: str  # one of STATUSES
    reason: str | None  # why it was skipped
    updated_at: str

    @property
    def shown_path(self) -> str:
        return display_path(self.path)


def _folder(row: dict[str, Any]) -> LibraryFolder:
    return LibraryFolder(**{**row, "path": os.fsdecode(row["path"]),
                            "include": tuple(stored_json(row["include"], [], list)),
                            "exclude": tuple(stored_json(row["exclude"], [], list))})


def _file(row: dict[str, Any]) -> LibraryFile:
    return LibraryFile(**{**row, "path": os.fsdecode(row["path"])})


def _patterns(patterns) -> str:
    return json.dumps([str(p) for p in patterns if str(p).strip()], ensure_ascii=False)


class Library:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- folders ----------------------------------------------------------------------------

    def add_folder(self, path: str | os.PathLike[str], *, include=(),
                   exclude=DEFAULT_EXCLUDE) -> LibraryFolder:
        """Add a folder (resolved: links followed); returns it, or the one already added.
        LibraryError if it is not a folder, or lies inside (or around) one already added."""
        resolved = os.path.realpath(os.fspath(path))
        shown = display_path(resolved)
        if not os.path.isdir(resolved):
            raise LibraryError(f"{shown} is not a folder Hearth can open.")
        for folder in self.folders():
            if folder.path == resolved:
                return folder
            inside = os.path.commonpath([folder.path, resolved])
            if inside == folder.path:
                raise LibraryError(f"{shown} is already in the library, inside {folder.shown_path}.")
            if inside == resolved:
                raise LibraryError(f"{shown} holds {folder.shown_path}, already in the library; "
                                   "remove that one first.")
        with self._store.transaction():
            cursor = self._store.db.execute(
                "INSERT INTO library_folders (path, name, include, exclude, added_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (os.fsencode(resolved), display_name(resolved) or shown, _patterns(include),
                 _patterns(exclude), utc_now()))
        return self.folder(cursor.lastrowid)  # type: ignore[return-value]

    def folders(self) -> list[LibraryFolder]:
        rows = self._store.db.query(f"SELECT {_FOLDER_COLUMNS} FROM library_folders ORDER BY id")
        return [_folder(row) for row in rows]

    def folder(self, folder_id: int) -> LibraryFolder | None:
        rows = list(self._store.db.query(
            f"SELECT {_FOLDER_COLUMNS} FROM library_folders WHERE id = ?", (folder_id,)))
        return _folder(rows[0]) if rows else None

    def find(self, text: str) -> list[LibraryFolder]:
        """The folders ``text`` names: its path (resolved), else its name, compared without
        case ("notes" finds ~/Documents/Notes); [] when none."""
        folders = self.folders()
        try:
            resolved = os.path.realpath(os.path.expanduser(text))
        except (OSError, ValueError):
            resolved = None
        by_path = [f for f in folders if f.path == resolved]
        if by_path:
            return by_path
        wanted = text.strip().strip("/").casefold()
        return [f for f in folders if f.name.casefold() == wanted
                or Path(f.path).name.casefold() == wanted]

    def set_patterns(self, folder_id: int, *, include=None, exclude=None) -> LibraryFolder:
        """Change what a folder indexes; the next scan adds and drops files to match."""
        with self._store.transaction():
            if include is not None:
                self._store.db.execute("UPDATE library_folders SET include = ? WHERE id = ?",
                                       (_patterns(include), folder_id))
            if exclude is not None:
                self._store.db.execute("UPDATE library_folders SET exclude = ? WHERE id = ?",
                                       (_patterns(exclude), folder_id))
        found = self.folder(folder_id)
        if found is None:
            raise KeyError(f"no library folder with id {folder_id}")
        return found

    def remove_folder(self, folder_id: int) -> None:
        """Forget a folder and its files at once; their documents go after the next pass
        (:func:`storage.library.sync.collect_dropped`).  KeyError if unknown."""
        with self._store.transaction():
            self._store.db.execute(
                "INSERT OR IGNORE INTO library_dropped (document_id) SELECT document_id"
                " FROM library_files WHERE folder_id = ? AND document_id IS NOT NULL",
                (folder_id,))
            cursor = self._store.db.execute("DELETE FROM library_folders WHERE id = ?",
                                            (folder_id,))
            if cursor.rowcount == 0:
                raise KeyError(f"no library folder with id {folder_id}")

    def mark_scanned(self, folder_id: int) -> None:
        with self._store.transaction():
            self._store.db.execute("UPDATE library_folders SET scanned_at = ? WHERE id = ?",
                                   (utc_now(), folder_id))

    # -- files --------------------------------------------------------------------------------

    def file(self, file_id: int) -> LibraryFile | None:
        rows = list(self._store.db.query(
            f"SELECT {_FILE_COLUMNS} FROM library_files WHERE id = ?", (file_id,)))
        return _file(rows[0]) if rows else None

    def files(self, folder_id: int | None = None, status: str | None = None,
              limit: int | None = None) -> list[LibraryFile]:
        """Files, in the order found; of one folder and one status if given."""
        where, params = [], []
        if folder_id is not None:
            where.append("folder_id = ?")
            params.append(folder_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {_FILE_COLUMNS} FROM library_files"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_file(row) for row in self._store.db.query(sql, params)]

    def files_of_document(self, document_id: int) -> list[LibraryFile]:
        rows = self._store.db.query(
            f"SELECT {_FILE_COLUMNS} FROM library_files WHERE document_id = ? ORDER BY id",
            (document_id,))
        return [_file(row) for row in rows]

    def counts(self, folder_id: int | None = None) -> Counter[str]:
        """Files per status ('pending', 'indexed', 'skipped'), of one folder or all."""
        sql = "SELECT status, COUNT(*) FROM library_files"
        params: tuple = ()
        if folder_id is not None:
            sql += " WHERE folder_id = ?"
            params = (folder_id,)
        found: Counter[str] = Counter({status: 0 for status in STATUSES})
        found.update(dict(self._store.db.execute(sql + " GROUP BY status", params).fetchall()))
        return found

    def skip_reasons(self, folder_id: int | None = None) -> Counter[str]:
        """How many files were skipped for each reason: the numbers of the status line."""
        sql = "SELECT reason, COUNT(*) FROM library_files WHERE status = 'skipped'"
        params: tuple = ()
        if folder_id is not None:
            sql += " AND folder_id = ?"
            params = (folder_id,)
        rows = self._store.db.execute(sql + " GROUP BY reason ORDER BY 2 DESC", params)
        return Counter({reason or "": n for reason, n in rows})
