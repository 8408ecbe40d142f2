"""The window's side of library indexing: the indexer process (app/core/library/worker.py),
started when the library has folders, told to pause, resume or rescan, and heard from.

Progress arrives as lines on the process's stdout, through Qt's event loop, so the GUI
thread never waits on it and never queries for it. A process that dies is started again
(the file it was reading is then listed as skipped); one stuck on a single file for
STUCK_S is stopped the same way, so a hostile file cannot hold the library back.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from app.core.library.service import PAUSED_KEY, READING_KEY, Progress
from common import bundle
from app.gui.qt import QObject, QtCore, QTimer, Signal
from storage import Store

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]  # where the `app` package lives
STUCK_S = 180  # one file read this long: the process is stopped, the file skipped
RESTARTS = 5  # at most this many restarts within RESTART_WINDOW_S
RESTART_WINDOW_S = 600


class LibraryRunner(QObject):
    progress = Signal(object)  # Progress, on the GUI thread

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.process: QtCore.QProcess | None = None
        self.paused = bool(store.settings.get(PAUSED_KEY, False))
        counts = store.library.counts()  # until the process says more
        self.last = Progress("paused" if self.paused and counts["pending"] else "idle",
                             counts["indexed"] + counts["skipped"], sum(counts.values()),
                             counts["skipped"])
        self._buffer = b""
        self._closing = False
        self._restarts: list[float] = []
        self._current: tuple[int | None, float] = (None, 0.0)
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(5000)
        self._watchdog.timeout.connect(self._check_stuck)
        QTimer.singleShot(0, self.start_if_needed)

    @property
    def running(self) -> bool:
        return self.process is not None and \
            self.process.state() != QtCore.QProcess.ProcessState.NotRunning

    def wanted(self) -> bool:
        """Whether there is work for an indexer: folders to keep current, or documents of
        removed folders to delete."""
        if self.store.read_only or str(self.store.path) == ":memory:":
            return False
        db = self.store.db
        return bool(db.execute("SELECT 1 FROM library_folders LIMIT 1").fetchone()
                    or db.execute("SELECT 1 FROM library_dropped LIMIT 1").fetchone())

    def start_if_needed(self) -> None:
        if not self._closing and not self.running and self.wanted():
            self.start()

    def start(self) -> None:
        process = QtCore.QProcess(self)
        program, *args = bundle.library_worker_command(str(self.store.path))
        process.setProgram(program)
        process.setArguments(args)
        process.setWorkingDirectory(str(ROOT))
        env = QtCore.QProcessEnvironment.systemEnvironment()
        paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env.insert("PYTHONPATH", os.pathsep.join(dict.fromkeys(paths)))
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._read_progress)
        process.readyReadStandardError.connect(self._read_log)
        process.finished.connect(self._finished)
        self.process = process
        process.start()
        self._watchdog.start()

    # -- commands ---------------------------------------------------------------------------

    def _send(self, command: str) -> None:
        if self.running:
            self.process.write(f"{command}\n".encode())  # type: ignore[union-attr]

    def rescan(self) -> None:
        """After a folder was added, removed or its patterns changed."""
        if self.running:
            self._send("rescan")
        else:
            self.start_if_needed()

    def pause(self) -> None:
        self.paused = True
        self.store.settings.set(PAUSED_KEY, True)
        self._send("pause")

    def resume(self) -> None:
        self.paused = False
        self.store.settings.set(PAUSED_KEY, False)
        self._send("resume")
        self.start_if_needed()

    def shutdown(self) -> None:
        """At quit: ask the process to stop after its file; stop it if it does not soon.
        Nothing is lost either way: the next start goes on from the pending files."""
        self._closing = True
        self._watchdog.stop()
        if not self.running:
            return
        process = self.process
        self._send("stop")
        process.closeWriteChannel()
        if not process.waitForFinished(2000):
            process.kill()
            process.waitForFinished(2000)
            if not self.store.read_only:  # stopped on purpose: not a file that hung it
                self.store.settings.set(READING_KEY, None)

    # -- what the process says --------------------------------------------------------------

    def _read_progress(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())  # type: ignore[union-attr]
        *lines, self._buffer = self._buffer.split(b"\n")
        latest = None
        for line in lines:
            try:
                latest = Progress(**json.loads(line))
            except (ValueError, TypeError):
                log.warning("library indexer said %r", line[:200])
        if latest is not None:
            self.last = latest
            if latest.current_id != self._current[0]:
                self._current = (latest.current_id, time.monotonic())
            self.progress.emit(latest)

    def _read_log(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")  # type: ignore[union-attr]
        for line in text.splitlines():
            if line.strip():
                log.info("indexer: %s", line)

    def _finished(self, code: int, _status) -> None:
        self._watchdog.stop()
        if self._closing:
            return
        log.warning("the library indexer stopped (exit status %s)", code)
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self._restarts) > RESTARTS:
            self.last = Progress("stopped", note="The indexer keeps stopping; see the log file.")
            self.progress.emit(self.last)
            return
        QTimer.singleShot(1000, self.start_if_needed)

    def _check_stuck(self) -> None:
        file_id, since = self._current
        if (self.running and self.last.state == "indexing" and file_id is not None
                and time.monotonic() - since > STUCK_S):
            log.warning("the library indexer spent %d s on one file; stopping it", STUCK_S)
            self.process.kill()  # type: ignore[union-attr]
