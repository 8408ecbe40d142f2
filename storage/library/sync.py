"""Keeping the index in step with the folders: scan (cheap, ``stat`` only), then index what
changed (hash, and extract only content not seen before), then drop unused documents.

* **scan**: walk a folder (or the part a watcher saw change), compare each file's size and
  mtime with its row: new and changed files become 'pending', files gone are deleted.  A
  scan with nothing changed writes nothing.
* **index**: a pending file is hashed; content already stored (a renamed, copied or touched
  file) is linked without being read again; otherwise it is extracted, chunked and stored.
  A file that cannot be read is 'skipped' with its reason and left alone until it changes.
* **collect**: documents no library file uses any more (and no chat attached) are deleted.

Every step commits in small transactions, so the window's writes (a streaming answer) wait
at most one batch, and a process stopped at any point leaves a consistent state: the next
run goes on from the pending rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from common.text import display_name

from ..clock import utc_now
from ..documents import DocumentError, chunk, extract
from .folders import _FILE_COLUMNS, LibraryFile, LibraryFolder, _file
from .walk import Entry, hash_file, walk

if TYPE_CHECKING:
    from ..db import Store

Cancel = Callable[[], bool]
BATCH = 500  # rows written per transaction by a scan
COLLECT_BATCH = 20  # documents deleted per transaction (each may hold thousands of chunks)


@dataclass
class ScanResult:
    found: int = 0  # files seen
    added: int = 0
    changed: int = 0
    removed: int = 0
    skipped: int = 0  # newly found unreadable (a reason recorded)
    cancelled: bool = False
    unavailable: bool = False  # the folder itself is missing (a drive not mounted): kept as is

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed or self.skipped)


@dataclass
class _Writes:
    inserts: list[tuple] = field(default_factory=list)
    updates: list[tuple] = field(default_factory=list)


def _prefix_clause(under: str) -> tuple[str, tuple]:
    """SQL over ``path`` (a BLOB) for ``under`` itself and everything below it."""
    if not under:
        return "1", ()
    raw = os.fsencode(under)  # below it: from "under/" up to "under0" ('0' follows '/')
    return "(path = ? OR (path > ? AND path < ?))", (raw, raw + b"/", raw + b"0")


def scan(store: Store, folder: LibraryFolder, *, under: str = "",
         cancel: Cancel | None = None) -> ScanResult:
    """Bring ``folder``'s rows (only those under ``under``, if given) in step with the disk.
    A scan of the whole folder, finished, marks it scanned.  A folder that is not there
    (an external drive not mounted) keeps its index: its files are not taken for deleted."""
    if not os.path.isdir(folder.path):
        return ScanResult(unavailable=True)
    clause, params = _prefix_clause(under)
    known = {bytes(path): (file_id, size, mtime, status, document_id)
             for file_id, path, size, mtime, status, document_id in store.db.execute(
                 "SELECT id, path, size, mtime_ns, status, document_id FROM library_files"
                 f" WHERE folder_id = ? AND {clause}", (folder.id, *params))}
    result, writes, now = ScanResult(), _Writes(), utc_now()
    seen: set[bytes] = set()
    for entry in walk(folder.path, folder.include, folder.exclude, under=under, cancel=cancel):
        raw = os.fsencode(entry.rel)
        seen.add(raw)
        result.found += 1
        _compare(entry, raw, known.get(raw), folder.id, now, writes, result)
        if len(writes.inserts) + len(writes.updates) >= BATCH:
            _write(store, writes)
    if cancel is not None and cancel():
        _write(store, writes)
        result.cancelled = True
        return result  # a partial walk says nothing about what is gone
    gone = [known[raw][0] for raw in known.keys() - seen]
    result.removed = len(gone)
    _write(store, writes)
    for start in range(0, len(gone), BATCH):
        remove_files(store, gone[start:start + BATCH])
    if not under:
        store.library.mark_scanned(folder.id)
    return result


def _compare(entry: Entry, raw: bytes, row, folder_id: int, now: str, writes: _Writes,
             result: ScanResult) -> None:
    status = "skipped" if entry.skip else "pending"
    if row is None:
        writes.inserts.append((folder_id, raw, entry.size, entry.mtime_ns, status, entry.skip, now))
        result.added += 1
        result.skipped += bool(entry.skip)
        return
    file_id, size, mtime, old_status, document_id = row
    if (size, mtime) == (entry.size, entry.mtime_ns):
        if old_status == "indexed" and document_id is None:  # its document was deleted
            writes.updates.append(("pending", None, entry.size, entry.mtime_ns, now, file_id))
            result.changed += 1
        elif entry.skip and old_status != "skipped":
            writes.updates.append(("skipped", entry.skip, entry.size, entry.mtime_ns, now, file_id))
            result.skipped += 1
        return  # unchanged: a skipped file is not tried again
    writes.updates.append((status, entry.skip, entry.size, entry.mtime_ns, now, file_id))
    result.changed += 1


def _write(store: Store, writes: _Writes) -> None:
    if not (writes.inserts or writes.updates):
        return
    with store.transaction():
        store.db.conn.executemany(
            "INSERT INTO library_files (folder_id, path, size, mtime_ns, status, reason,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", writes.inserts)
        store.db.conn.executemany(
            "UPDATE library_files SET status = ?, reason = ?, size = ?, mtime_ns = ?,"
            " updated_at = ? WHERE id = ?", writes.updates)
    writes.inserts.clear()
    writes.updates.clear()


def remove_files(store: Store, file_ids: list[int]) -> None:
    """Delete file rows; the documents they used wait in library_dropped for collection."""
    if not file_ids:
        return
    marks = ",".join("?" * len(file_ids))
    with store.transaction():
        store.db.execute(
            "INSERT OR IGNORE INTO library_dropped (document_id) SELECT document_id FROM"
            f" library_files WHERE id IN ({marks}) AND document_id IS NOT NULL", file_ids)
        store.db.execute(f"DELETE FROM library_files WHERE id IN ({marks})", file_ids)


def pending(store: Store, limit: int = 100, folder_id: int | None = None,
            skip_folders: Iterable[int] = ()) -> list[LibraryFile]:
    """Files waiting to be indexed, oldest first (none of the folders in ``skip_folders``)."""
    sql = (f"SELECT {_FILE_COLUMNS} FROM library_files WHERE status = 'pending'"
           " AND folder_id NOT IN (SELECT value FROM json_each(?))")
    params: tuple = (json.dumps(sorted(set(skip_folders))),)
    if folder_id is not None:
        sql += " AND folder_id = ?"
        params += (folder_id,)
    return [_file(row) for row in store.db.query(sql + f" ORDER BY id LIMIT {int(limit)}", params)]


def _reason(exc: BaseException, name: str) -> str:
    """A DocumentError's message without the file name it starts with (the list shows it)."""
    text = str(exc).strip()
    if text.startswith(name + " "):
        text = text[len(name) + 1:]
    return text.rstrip(".") or "could not be read"


def index_file(store: Store, folder: LibraryFolder, file: LibraryFile, *,
               cancel: Cancel | None = None) -> str:
    """Index one pending file: 'indexed', 'skipped' (reason stored), or 'gone' (row removed:
    the file vanished since the scan).  Slow for a big new file: call off the GUI thread."""
    path = os.path.join(folder.path, file.path)
    name = display_name(file.path)
    try:
        digest, st = hash_file(path, cancel)
        document = store.documents.find(digest)
        if document is None:
            extracted = extract(path, name=name)
            document = store.documents.add(extracted, sha256=digest, name=name,
                                           size=st.st_size, chunks=chunk(extracted))
    except FileNotFoundError:
        if not os.path.isdir(folder.path):
            return "pending"  # the whole folder is away (unmounted): try again when it is back
        remove_files(store, [file.id])
        return "gone"
    except OSError as exc:
        if cancel is not None and cancel():
            return "pending"
        return _skip(store, file, exc.strerror or str(exc))
    except (DocumentError, ValueError) as exc:
        return _skip(store, file, _reason(exc, name))
    with store.transaction():
        if file.document_id is not None and file.document_id != document.id:
            store.db.execute("INSERT OR IGNORE INTO library_dropped (document_id) VALUES (?)",
                             (file.document_id,))
        cursor = store.db.execute(
            "UPDATE library_files SET status = 'indexed', reason = NULL, sha256 = ?,"
            " document_id = ?, size = ?, mtime_ns = ?, updated_at = ? WHERE id = ?",
            (digest, document.id, st.st_size, st.st_mtime_ns, utc_now(), file.id))
        if cursor.rowcount == 0:  # its folder was removed meanwhile (`hearth library remove`)
            store.db.execute("INSERT OR IGNORE INTO library_dropped (document_id) VALUES (?)",
                             (document.id,))
            return "gone"
    return "indexed"


def _skip(store: Store, file: LibraryFile, reason: str) -> str:
    with store.transaction():
        if file.document_id is not None:
            store.db.execute("INSERT OR IGNORE INTO library_dropped (document_id) VALUES (?)",
                             (file.document_id,))
        store.db.execute(
            "UPDATE library_files SET status = 'skipped', reason = ?, document_id = NULL,"
            " updated_at = ? WHERE id = ?", (reason, utc_now(), file.id))
    return "skipped"


def collect_dropped(store: Store, cancel: Cancel | None = None) -> int:
    """Delete the documents library files stopped using, unless a file or a chat still uses
    them; returns how many went."""
    deleted = 0
    while not (cancel is not None and cancel()):
        ids = [row[0] for row in store.db.execute(
            f"SELECT document_id FROM library_dropped LIMIT {COLLECT_BATCH}")]
        if not ids:
            break
        marks = ",".join("?" * len(ids))
        with store.transaction():
            cursor = store.db.execute(
                f"DELETE FROM documents WHERE id IN ({marks})"
                " AND NOT EXISTS (SELECT 1 FROM library_files AS f WHERE f.document_id = documents.id)"
                " AND NOT EXISTS (SELECT 1 FROM message_documents AS m"
                " WHERE m.document_id = documents.id)", ids)
            deleted += cursor.rowcount
            store.db.execute(f"DELETE FROM library_dropped WHERE document_id IN ({marks})", ids)
    return deleted
