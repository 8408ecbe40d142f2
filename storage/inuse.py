"""Which Hearth processes have a database open: a shared ``flock`` on ``hearth.db.inuse``.

Every process holding a writable :class:`~storage.Store` holds a shared lock on the file
next to the database, for as long as it has one open; the kernel drops it when the process
dies, ``kill -9`` included.  A process that gets the lock exclusively is therefore the only
Hearth on that database, which makes two start-up jobs safe:

* an answer still ``streaming`` was cut off by a process that is gone (not one that is
  writing it right now in another window or ``hearth chat``), so it can be marked
  interrupted;
* a ``-wal`` file left behind means the last process did not close cleanly.

Where ``fcntl`` is missing (Windows) every process believes it is alone: the behaviour
Hearth had before this lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_lock = threading.RLock()
_held: dict[Path, list[int]] = {}  # lock file -> [fd, number of Stores holding it]


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".inuse")


def acquire(database: Path) -> None:
    """Count one more open Store on ``database`` in this process (shared lock). Never
    raises: without a lock file (read-only folder) the database is simply not counted."""
    if fcntl is None:
        return
    path = lock_path(database)
    with _lock:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
            return
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while another process is in exclusive()
        except OSError:
            os.close(fd)
            return
        _held[path] = [fd, 1]


def release(database: Path) -> None:
    if fcntl is None:
        return
    path = lock_path(database)
    with _lock:
        entry = _held.get(path)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _held[path]
            os.close(entry[0])  # closing drops the lock


def open_here(database: Path) -> int:
    """How many Stores this process has open on ``database`` (as counted by acquire)."""
    with _lock:
        entry = _held.get(lock_path(database))
        return 0 if entry is None else entry[1]


@contextmanager
def exclusive(database: Path) -> Iterator[bool]:
    """Yield True while this process is the only one with ``database`` open: no other
    process can open a Store meanwhile (its acquire waits).  Yields False at once if
    another process has it open (or the lock file cannot be made).  Open this process's
    Store first: a Store opened inside the block would wait for the block to end."""
    if fcntl is None:
        yield True
        return
    path = lock_path(database)
    with _lock:
        entry = _held.get(path)
        own = entry is None
        if own:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                yield False
                return
        else:
            fd = entry[0]  # type: ignore[index]
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # converts our own shared lock
                got = True
            except OSError:
                got = False
            try:
                yield got
            finally:
                if not own:  # back to shared; Linux drops the shared lock when a conversion fails
                    fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            if own:
                os.close(fd)
