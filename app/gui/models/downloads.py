"""Downloads in the window: one Python thread per file, progress and outcome as queued signals.

A dedicated thread rather than the shared pool: a 12 GB download runs for many minutes and
would hold a pool slot that hashing and extraction need. Pause stops at the next chunk and
keeps `<file>.part`; a later start (this run or after a restart) resumes it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from app.core import model_library
from app.gui.qt import QObject, Signal
from inference.models import download
from storage import Store

log = logging.getLogger(__name__)


class DownloadManager(QObject):
    progress = Signal(str, object)  # key, download.Progress
    started = Signal(str)  # key
    paused = Signal(str)  # key (also after a cancel, with the partial file gone)
    finished = Signal(str, str)  # key, path of the verified file
    failed = Signal(str, str)  # key, message for the user

    def __init__(self, store: Store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._running: dict[str, tuple[threading.Thread, threading.Event, list[bool]]] = {}
        self._outcome.connect(self._on_outcome)

    # key, "finished" | "paused" | "failed", path or message, sha256: hops to the GUI thread,
    # where the bookkeeping happens.
    _outcome = Signal(str, str, str, object)

    @staticmethod
    def key(repo_id: str, filename: str) -> str:
        return f"{repo_id}/{filename}"

    def is_running(self, key: str) -> bool:
        return key in self._running

    def partial_bytes(self, repo_id: str, filename: str) -> int:
        dest = download.destination(model_library.models_dir(), repo_id, filename)
        return download.partial_state(dest)[0]

    def start(self, repo_id: str, filename: str) -> str:
        key = self.key(repo_id, filename)
        if key in self._running:
            return key
        stop, cancelled = threading.Event(), [False]

        def work() -> None:
            try:
                path, sha256 = download.download(
                    repo_id, filename, model_library.models_dir(),
                    on_progress=lambda p: self.progress.emit(key, p), should_stop=stop.is_set)
            except download.DownloadStopped:
                if cancelled[0]:
                    download.discard_partial(
                        download.destination(model_library.models_dir(), repo_id, filename))
                self._outcome.emit(key, "paused", "", None)
            except download.DownloadError as exc:
                self._outcome.emit(key, "failed", str(exc), None)
            except Exception as exc:  # a bug: say so rather than leave a spinner forever
                log.exception("download of %s failed", key)
                self._outcome.emit(key, "failed", f"The download failed unexpectedly: {exc}", None)
            else:
                self._outcome.emit(key, "finished", str(path), sha256)

        thread = threading.Thread(target=work, name=f"download {filename}", daemon=True)
        self._running[key] = (thread, stop, cancelled)
        thread.start()
        self.started.emit(key)
        return key

    def pause(self, key: str) -> None:
        if key in self._running:
            self._running[key][1].set()

    def cancel(self, repo_id: str, filename: str) -> None:
        """Stop and delete what was downloaded so far."""
        key = self.key(repo_id, filename)
        if key in self._running:
            _thread, stop, cancelled = self._running[key]
            cancelled[0] = True
            stop.set()
        else:
            download.discard_partial(download.destination(model_library.models_dir(), repo_id, filename))
            self.paused.emit(key)

    def _on_outcome(self, key: str, kind: str, detail: str, sha256: object) -> None:
        self._running.pop(key, None)
        if kind == "paused":
            self.paused.emit(key)
        elif kind == "failed":
            self.failed.emit(key, detail)
        else:
            if sha256:  # hashed on the way in: the app never re-reads 12 GB to learn it
                self._store.model_files.remember_sha256(detail, str(sha256))
            self.finished.emit(key, detail)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Pause everything (the partial files stay for next time) and wait for the threads."""
        running = list(self._running.values())
        for _thread, stop, _cancelled in running:
            stop.set()
        for thread, _stop, _cancelled in running:
            thread.join(timeout)


def destination(repo_id: str, filename: str) -> Path:
    return download.destination(model_library.models_dir(), repo_id, filename)
