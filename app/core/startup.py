"""What every process that writes answers does when it starts: tidy up after the last run.

An answer still `streaming` in the database was cut off (a crash, a kill -9, a power cut) —
unless another Hearth process is writing it right now. Each such process (the window,
`hearth chat --save`) holds a shared lock on `<data folder>/turns.lock` while it lives; a
process that can take the lock exclusively knows it is alone, and only then marks the
leftovers interrupted (their text kept, with a Continue action in the window).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

from storage import Store

log = logging.getLogger(__name__)

TRASH_DAYS = 30  # a trashed chat can be restored this long
UNDO_DAYS = 1  # a deleted message is kept as long as its Undo might still be on offer
LOCK_NAME = "turns.lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers are then marked only by the window
    fcntl = None


class TurnsLock:
    """Held (shared) for as long as this process may write answers."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self.alone = False
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a read-only data folder: nothing will be written anyway
            log.info("no turns lock (%s)", exc)
            return
        if fcntl is None:
            self.alone = True
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.alone = True
        except OSError:
            self.alone = False  # another Hearth process is running and may be writing
        fcntl.flock(self._fd, fcntl.LOCK_SH)  # from now on, others see this process

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def tidy(store: Store, lock: TurnsLock, now: dt.datetime | None = None) -> int:
    """Empty the old trash, forget old deletions, and (when alone) mark cut-off answers
    interrupted. Returns how many answers were marked."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if getattr(store, "read_only", False):
        return 0
    store.conversations.purge_trash((now - dt.timedelta(days=TRASH_DAYS)).isoformat())
    store.messages.purge_deleted((now - dt.timedelta(days=UNDO_DAYS)).isoformat())
    if not lock.alone:
        return 0
    marked = store.messages.mark_interrupted()
    if marked:
        log.info("%d answer(s) were cut off when Hearth last stopped; kept and marked", marked)
    return marked
