"""The library kept current in the background: the service with a real watcher (watchfiles)
on a real folder, pause and resume, resuming after a stop, and the window's indexer process
(app/core/library/worker.py) driven as the window drives it: commands on stdin, progress on
stdout, killed in the middle of a file and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fixtures.library import FACT, wait_for, write_library

from app.core.library.service import CRASHED, READING_KEY, LibraryService, Progress
from storage import Store
from storage.library import scan, search_library

REPO = Path(__file__).resolve().parents[1]
LIMIT = 60  # seconds: far above what any step takes, a guard against a hang


class Running:
    """A LibraryService on a thread, as the worker process runs it, with its progress kept."""

    def __init__(self, db: Path) -> None:
        self.reports: list[Progress] = []
        self.service = LibraryService(db, self.reports.append, debounce_ms=100)
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()

    def idle(self) -> Progress:
        return wait_for(lambda: self.reports and self.reports[-1].state == "idle"
                        and self.reports[-1], LIMIT)

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(LIMIT)
        assert not self.thread.is_alive()


@pytest.fixture
def running(store):
    started = []

    def start() -> Running:
        started.append(Running(store.path))
        return started[-1]

    yield start
    for service in started:
        service.stop()


def files(store: Store) -> dict[str, str]:
    return {f.path: f.status for f in store.library.files()}


def found(store: Store, words: str) -> list[str]:
    return [h.source for h in search_library(store, words)]


def test_the_watcher_follows_new_changed_renamed_and_deleted_files(store, running, tmp_path):
    root = write_library(tmp_path / "Docs")
    store.library.add_folder(root)
    service = running()
    first = service.idle()
    assert first.watching and first.total == 4 and first.done == 4
    assert any(r.state == "indexing" for r in service.reports)  # progress was reported
    (root / "notes" / "new.md").write_text("Otters hold hands while they sleep.\n")
    wait_for(lambda: found(store, "otters") == ["Docs/notes/new.md"], LIMIT)
    document = search_library(store, "otters")[0].chunk.document_id
    (root / "notes" / "new.md").write_text("Sea otters hold hands while they sleep.\n")
    wait_for(lambda: found(store, "sea otters") == ["Docs/notes/new.md"], LIMIT)
    wait_for(lambda: store.documents.get(document) is None, LIMIT)  # the old text collected
    (root / "notes" / "new.md").rename(root / "otters.md")
    wait_for(lambda: found(store, "otters") == ["Docs/otters.md"], LIMIT)
    (root / "otters.md").unlink()
    wait_for(lambda: found(store, "otters") == [] and "otters.md" not in files(store), LIMIT)
    (root / "more" / "deeper").mkdir(parents=True)  # a new folder, filled at once
    (root / "more" / "deeper" / "a.txt").write_text("Walruses are large.\n")
    wait_for(lambda: found(store, "walruses") == ["Docs/more/deeper/a.txt"], LIMIT)
    (root / "node_modules" / "pkg" / "x.md").write_text("Walruses in a dependency.\n")
    service.idle()
    assert found(store, "walruses") == ["Docs/more/deeper/a.txt"]  # left out, still


def test_changes_while_not_running_are_found_at_the_next_start(store, running, tmp_path):
    root = write_library(tmp_path / "Docs")
    store.library.add_folder(root)
    first = running()
    first.idle()
    first.stop()
    (root / "notes" / "todo.txt").unlink()
    (root / "added.md").write_text("Herons stand very still.\n")
    again = running()
    again.idle()
    assert "notes/todo.txt" not in files(store)
    assert found(store, "herons") == ["Docs/added.md"]


def test_a_folder_that_goes_away_mid_index_waits_and_the_others_go_on(store, running, tmp_path):
    gone = tmp_path / "Drive"
    gone.mkdir()
    (gone / "a.md").write_text("Kittiwakes nest on cliffs.\n")
    store.library.add_folder(gone)
    kept = write_library(tmp_path / "Docs")
    store.library.add_folder(kept)
    scan(store, store.library.folders()[0])
    scan(store, store.library.folders()[1])
    gone.rename(tmp_path / "unplugged")  # files pending, then the drive is pulled
    idle = running().idle()  # no spinning on the missing folder's pending file
    assert "Not available now" in idle.note and "Drive" in idle.note
    assert files(store)["a.md"] == "pending"
    assert found(store, "launch code") == ["Docs/notes/plan.md"]


def test_pause_holds_indexing_across_a_restart_and_resume_finishes_it(store, running, tmp_path):
    root = tmp_path / "Many"
    root.mkdir()
    for n in range(30):
        (root / f"note{n:02}.md").write_text(f"Note {n} about lighthouse keepers.\n")
    folder = store.library.add_folder(root)
    store.settings.set("library.paused", True)  # paused in an earlier session
    service = running()
    wait_for(lambda: service.reports and service.reports[-1].state == "paused", LIMIT)
    assert store.library.counts()["indexed"] == 0 and store.library.counts()["pending"] == 30
    service.service.resume()
    done = service.idle()
    assert done.done == 30 and store.settings.get("library.paused") is False
    assert scan(store, folder).unchanged


def test_a_file_that_crashed_the_indexer_is_skipped_at_the_next_start(store, running, tmp_path):
    root = write_library(tmp_path / "Docs")
    folder = store.library.add_folder(root)
    scan(store, folder)
    culprit = next(f for f in store.library.files() if f.path == "survey.pdf")
    store.settings.set(READING_KEY, culprit.id)  # as a process killed mid-file leaves it
    running().idle()
    assert store.library.file(culprit.id).status == "skipped"
    assert store.library.file(culprit.id).reason == CRASHED
    assert store.settings.get(READING_KEY) is None
    assert found(store, "launch") == ["Docs/notes/plan.md"]  # the rest was indexed


# -- the window's indexer process ------------------------------------------------------------


class Worker:
    """`python -m app.core.library.worker DB`, as the window starts it."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.core.library.worker", str(db)], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        self.reports: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.reports.append(json.loads(line))

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def state(self, wanted: str) -> dict:
        return wait_for(lambda: self.reports and self.reports[-1]["state"] == wanted
                        and self.reports[-1], LIMIT)


def test_the_worker_process_indexes_reports_and_stops_at_end_of_input(store, tmp_path):
    root = write_library(tmp_path / "Docs")
    store.library.add_folder(root)
    worker = Worker(store.path)
    idle = worker.state("idle")
    assert (idle["done"], idle["total"], idle["watching"]) == (4, 4, True)
    assert Progress(**idle).line() == "Up to date: 4 files indexed"
    assert found(store, "launch code") == ["Docs/notes/plan.md"]
    (root / "late.md").write_text(f"{FACT} Again.\n")
    worker.send("rescan")
    wait_for(lambda: len(found(store, "launch")) == 2, LIMIT)
    worker.send("pause")
    worker.state("paused")
    worker.process.stdin.close()  # the window quit (or died)
    assert worker.process.wait(LIMIT) == 0
    assert worker.reports[-1]["state"] == "stopped"
    assert worker.process.stderr.read().count("Traceback") == 0


def test_a_worker_killed_mid_index_loses_nothing_and_the_next_one_finishes(store, tmp_path):
    root = tmp_path / "Many"
    root.mkdir()
    for n in range(200):
        (root / f"note{n:03}.md").write_text(f"# Note {n}\n\n" + "Keepers of lighthouses. " * 200)
    store.library.add_folder(root)
    worker = Worker(store.path)
    wait_for(lambda: store.library.counts()["indexed"] >= 5, LIMIT)
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(LIMIT)
    counts = store.library.counts()
    assert counts["indexed"] + counts["pending"] + counts["skipped"] == 200
    again = Worker(store.path)
    idle = again.state("idle")
    again.process.stdin.close()
    again.process.wait(LIMIT)
    # At most the one file being read when it was killed is skipped, named as the cause.
    assert idle["total"] == 200 and idle["skipped"] <= 1
    assert {f.reason for f in store.library.files(status="skipped")} <= {CRASHED}
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
