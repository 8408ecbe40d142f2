"""The library kept current: scan every folder at start, index what is pending, then follow
changes with a file watcher (watchfiles) until stopped.  Qt-free; the window runs it in a
process of its own (``app.core.library.worker``), ``hearth library`` runs one pass in the
foreground (:func:`index_all`).

All state lives in SQLite (pending rows, the folders, ``library.paused``), so stopping at any
point loses nothing: the next start scans again (cheap: ``stat`` only) and goes on with what
is pending.  A file whose reading crashed or hung the process is remembered before it is
read (``library.reading``) and listed as skipped at the next start, not read again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from common.text import display_path
from storage import Store
from storage.library import LibraryFolder, collect_dropped, index_file, pending, remove_files, scan

log = logging.getLogger(__name__)

PAUSED_KEY = "library.paused"  # true: indexing waits (kept across restarts)
READING_KEY = "library.reading"  # the file id being read right now; set before, cleared after
CRASHED = "reading it stopped Hearth's indexer (it crashed or took too long); not tried again"
REPORT_EVERY_S = 0.25  # progress reports at most this often
FULL_SCAN_AFTER = 64  # changed paths in one folder past which one scan of it is cheaper


@dataclass(frozen=True)
class Progress:
    state: str  # scanning | indexing | idle | paused | stopped
    done: int = 0  # files indexed or skipped
    total: int = 0  # files found
    skipped: int = 0
    current: str = ""  # the file being read, for people
    current_id: int | None = None  # its row (a watchdog kills a process stuck on it)
    watching: bool = False
    note: str = ""  # why changes are not followed, say

    def line(self) -> str:
        """One line for a person: "Indexing 1,204 of 9,870 files"."""
        if self.state == "scanning":
            return f"Looking for changes… {self.total:,} files found"
        if self.state == "indexing":
            return f"Indexing {self.done:,} of {self.total:,} files"
        if self.state == "paused":
            return f"Paused: {self.done:,} of {self.total:,} files indexed"
        if self.state == "stopped":
            return "Stopped"
        skipped = f" ({self.skipped:,} skipped)" if self.skipped else ""
        return f"Up to date: {self.done - self.skipped:,} files indexed{skipped}"

    def as_dict(self) -> dict:
        return asdict(self)


ProgressFn = Callable[[Progress], None]


def lower_priority() -> None:
    """Let everything else on the machine go first: CPU and, where the system has it, I/O."""
    try:
        import psutil

        me = psutil.Process()
        if hasattr(psutil, "BELOW_NORMAL_PRIORITY_CLASS"):  # Windows
            me.nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:  # the lowest: indexing can wait for an answer being written
            os.nice(19 - os.nice(0))
        if hasattr(psutil, "IOPRIO_CLASS_IDLE"):  # Linux
            me.ionice(psutil.IOPRIO_CLASS_IDLE)
    except Exception:  # priority is a courtesy; indexing goes on without it
        log.info("could not lower the indexer's priority", exc_info=True)


def recover_crashed(store: Store) -> None:
    """A file was being read when the last indexer died: list it as skipped, once."""
    file_id = store.settings.get(READING_KEY)
    if isinstance(file_id, int):
        with store.transaction():
            store.db.execute("UPDATE library_files SET status = 'skipped', reason = ?,"
                             " document_id = NULL WHERE id = ? AND status = 'pending'",
                             (CRASHED, file_id))
            store.settings.set(READING_KEY, None)


class Indexer:
    """One pass over the library on one connection: scan, index pending, collect.  Checks
    ``cancel`` (stop) and ``paused`` between files; reports through ``progress``."""

    def __init__(self, store: Store, progress: ProgressFn | None = None,
                 cancel: Callable[[], bool] = lambda: False,
                 paused: Callable[[], bool] = lambda: False) -> None:
        self.store = store
        self._progress = progress
        self._cancel = cancel
        self._paused = paused
        self._last_report = 0.0
        self._last_state = ""
        self.watching = False
        self.note = ""

    def report(self, state: str, *, force: bool = False, current: str = "",
               current_id: int | None = None) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if not force and state == self._last_state and now - self._last_report < REPORT_EVERY_S:
            return
        self._last_report, self._last_state = now, state
        counts = self.store.library.counts()
        total = sum(counts.values())
        self._progress(Progress(state, counts["indexed"] + counts["skipped"], total,
                                counts["skipped"], current, current_id, self.watching, self.note))

    def scan_all(self) -> None:
        for folder in self.store.library.folders():
            if self._cancel():
                return
            self.report("scanning", force=True)
            scan(self.store, folder, cancel=self._cancel)

    def scan_changes(self, changes: dict[int, set[str]]) -> None:
        """Scan what a watcher saw change: {folder id: relative paths}."""
        for folder_id, paths in changes.items():
            folder = self.store.library.folder(folder_id)
            if folder is None:
                continue
            if "" in paths or len(paths) > FULL_SCAN_AFTER:
                scan(self.store, folder, cancel=self._cancel)
                continue
            for rel in sorted(paths):
                scan(self.store, folder, under=rel, cancel=self._cancel)

    def index_pending(self, should_yield: Callable[[], bool] = lambda: False) -> bool:
        """Index pending files until none is left (True) or stop, pause or ``should_yield``
        (new changes to scan first) says to stop for now (False)."""
        folders: dict[int, LibraryFolder | None] = {}
        away: set[int] = set()  # folders not there now (a drive not mounted): left pending
        while True:
            batch = pending(self.store, 50, skip_folders=away)
            if not batch:
                names = [f.name for i, f in folders.items() if i in away and f is not None]
                self.note = (f"Not available now (a drive not connected?): {', '.join(names)}"
                             if names else "")
                return True
            for file in batch:
                if self._cancel() or self._paused() or should_yield():
                    return False
                if file.folder_id in away:
                    continue
                if file.folder_id not in folders:
                    folders[file.folder_id] = self.store.library.folder(file.folder_id)
                folder = folders[file.folder_id]
                if folder is None:
                    remove_files(self.store, [file.id])
                    continue
                if not os.path.isdir(folder.path):
                    away.add(folder.id)
                    continue
                self.report("indexing", current=display_path(file.path), current_id=file.id)
                # Set before reading; cleared after, also when stopped by an exception
                # (Ctrl+C), but not by a crash or a kill: then it names the culprit.
                self.store.settings.set(READING_KEY, file.id)
                try:
                    outcome = index_file(self.store, folder, file, cancel=self._cancel)
                finally:
                    self.store.settings.set(READING_KEY, None)
                if outcome == "pending":  # cancelled mid-file, or the folder went away
                    if not os.path.isdir(folder.path):
                        away.add(folder.id)
                        continue
                    return False

    def collect(self) -> None:
        collect_dropped(self.store, cancel=self._cancel)


def index_all(store: Store, progress: ProgressFn | None = None,
              cancel: Callable[[], bool] = lambda: False, *, scan_first: bool = True) -> Progress:
    """One full pass in the foreground (``hearth library add|reindex``): scan every folder,
    index everything pending, drop unused documents.  Returns the final progress."""
    recover_crashed(store)
    indexer = Indexer(store, progress, cancel)
    if scan_first:
        indexer.scan_all()
    finished = indexer.index_pending()
    if finished:
        indexer.collect()
    counts = store.library.counts()
    state = "idle" if finished and not counts["pending"] else "stopped"
    final = Progress(state, counts["indexed"] + counts["skipped"], sum(counts.values()),
                     counts["skipped"])
    if progress is not None:
        progress(final)
    return final


class LibraryService:
    """Keeps the library current until :meth:`stop`: what the window's indexer process runs.

    ``run()`` blocks (call it on the thread that should own the connection); the other
    methods may be called from any thread.
    """

    def __init__(self, db_path: str | os.PathLike[str], progress: ProgressFn | None = None,
                 *, watch: bool = True, debounce_ms: int = 800) -> None:
        self.db_path = Path(db_path)
        self._progress = progress
        self._watch = watch
        self._debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._changes: dict[int, set[str]] = {}
        self._rescan = True  # at start: catch what changed while Hearth was not running
        self._paused: bool | None = None  # None: as stored
        self._watcher: _Watcher | None = None

    # -- commands, from any thread ------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def rescan(self) -> None:
        """Scan every folder again (after a folder was added, removed or its patterns
        changed)."""
        with self._lock:
            self._rescan = True
        self._wake.set()

    def pause(self) -> None:
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def changed(self, folder_id: int, rel: str) -> None:
        with self._lock:
            self._changes.setdefault(folder_id, set()).add(rel)
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        with Store(self.db_path) as store:
            if self._paused is not None:
                store.settings.set(PAUSED_KEY, self._paused)
            recover_crashed(store)
            indexer = Indexer(store, self._progress, self._stop.is_set,
                              lambda: self._is_paused(store))
            try:
                self._loop(store, indexer)
            finally:
                if self._watcher is not None:
                    self._watcher.close()
                if self._progress is not None:
                    self._progress(Progress("stopped"))

    def _is_paused(self, store: Store) -> bool:
        if self._paused is not None:
            wanted, self._paused = self._paused, None
            store.settings.set(PAUSED_KEY, wanted)
        return bool(store.settings.get(PAUSED_KEY, False))

    def _loop(self, store: Store, indexer: Indexer) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                rescan, self._rescan = self._rescan, False
                changes, self._changes = self._changes, {}
            if rescan:
                self._follow(store, indexer)
                indexer.scan_all()
            if self._watcher is not None and self._watcher.error:
                indexer.watching, indexer.note = False, self._watcher.error
            elif changes:
                indexer.scan_changes(changes)
            if self._is_paused(store):
                indexer.report("paused", force=True)
                self._wake.wait()
                continue
            finished = indexer.index_pending(self._wake.is_set)
            if finished:
                indexer.collect()
                indexer.report("idle", force=True)
                self._wake.wait()

    def _follow(self, store: Store, indexer: Indexer) -> None:
        """Watch exactly the library's folders (restarted when they change)."""
        if not self._watch:
            return
        folders = {f.id: f.path for f in store.library.folders() if os.path.isdir(f.path)}
        if self._watcher is not None and self._watcher.folders == folders:
            return
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        indexer.watching, indexer.note = False, ""
        if not folders:
            return
        try:
            self._watcher = _Watcher(folders, self.changed, self._debounce_ms)
            indexer.watching = True
        except Exception as exc:  # no watcher (a limit reached): changes found at the next start
            log.warning("cannot watch the library folders", exc_info=True)
            indexer.note = f"Changes are picked up at the next start ({exc})."


class _Watcher:
    """A thread turning file-system events under the folders into (folder id, path)."""

    def __init__(self, folders: dict[int, str], changed: Callable[[int, str], None],
                 debounce_ms: int) -> None:
        import watchfiles

        self.folders = dict(folders)
        self._changed = changed
        self._stop = threading.Event()
        self.error = ""  # why it stopped following changes, if it did
        # rust_timeout: the Rust side returns each step_ms to check the stop event.
        self._events = watchfiles.watch(*self.folders.values(), stop_event=self._stop,
                                        debounce=debounce_ms, step=50, rust_timeout=0,
                                        yield_on_timeout=False, ignore_permission_denied=True,
                                        raise_interrupt=False)
        self._thread = threading.Thread(target=self._run, name="library-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for batch in self._events:
                for _change, path in batch:
                    found = self._place(path)
                    if found is not None:
                        self._changed(*found)
        except Exception as exc:  # a watch limit reached, say: the next start rescans
            log.warning("the library watcher stopped", exc_info=True)
            self.error = f"Changes are picked up at the next start ({exc})."

    def _place(self, path: str) -> tuple[int, str] | None:
        """The folder a reported path is in, and the part to scan again: the path itself,
        or where its name was not valid UTF-8 (reported with U+FFFD), its folder."""
        for folder_id, root in self.folders.items():
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                rel = path[len(root):].strip(os.sep).replace(os.sep, "/")
                if "\ufffd" in rel:
                    rel = rel[:rel.index("\ufffd")].rpartition("/")[0]
                return folder_id, rel
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
