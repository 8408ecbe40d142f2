"""A disk that fills up: the write in progress raises StorageFullError (one line, "The disk is
full: ..."), its transaction rolls back, and everything saved before stays.

Three real ways to fill it: SQLite's own page limit (PRAGMA max_page_count: SQLite reports
SQLITE_FULL exactly as for a full disk), a tiny tmpfs (ENOSPC from the kernel; needs root),
and RLIMIT_FSIZE in a child process (EFBIG, which SQLite reports as an I/O error)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.storage_faults import build_at_version, fill, integrity, tiny_filesystem

from storage import (INTERRUPTED_ERROR, StorageError, StorageFullError, Store, latest_version,
                     list_backups, open_store)

ROOT = Path(__file__).resolve().parent.parent


def stream_until_full(store: Store, answer_id: int) -> str:
    """Save a growing answer as the turn loop does until the disk refuses; the last text
    that was saved."""
    saved, text = "", ""
    for i in range(100_000):
        text += f"token{i} " * 40
        try:
            store.messages.update(answer_id, content=text)
        except StorageFullError as exc:
            assert str(exc).startswith("The disk is full: ") and "\n" not in str(exc)
            return saved
        saved = text
    raise AssertionError("the disk never filled")


def test_page_limit_full_rolls_back_the_transaction(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        chat = store.conversations.create("Before")
        user, answer = store.messages.add_turn(chat.id, "a question")
        store.messages.update(answer.id, content="a full answer", status="complete")
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        with pytest.raises(StorageFullError):
            with store.transaction():
                store.conversations.rename(chat.id, "renamed in the failed transaction")
                store.messages.add(chat.id, "user", "x" * 200_000)
        assert not store.conn.in_transaction
        assert store.conversations.get(chat.id).title == "Before"
        assert [m.content for m in store.messages.thread(chat.id)] == ["a question", "a full answer"]
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        store.messages.add(chat.id, "user", "room again")  # the same Store goes on
    assert integrity(path) == ["ok"]


def test_a_full_disk_mid_answer_keeps_what_was_saved(tmp_path):
    folder = tmp_path / "small-disk"
    with tiny_filesystem(folder, 1024):
        path = folder / "hearth.db"
        store = Store(path)
        chat = store.conversations.create("Earlier")
        store.messages.add(chat.id, "user", "earlier question")
        store.messages.add(chat.id, "assistant", "earlier answer")
        _, answer = store.messages.add_turn(chat.id, "a long story please")
        filler = fill(folder, leave=96 * 1024)
        saved = stream_until_full(store, answer.id)
        assert saved  # some of the answer got in before the disk filled
        kept = store.messages.get(answer.id)
        assert kept.content == saved and kept.status == "streaming"
        with pytest.raises(StorageFullError):  # the turn's last save fails too…
            store.messages.update(answer.id, status="failed", error="The disk is full")
        store.close()

        filler.unlink()  # …and the next start, with room again, marks it interrupted
        store, report = open_store(path)
        with store:
            assert report.interrupted == 1
            thread = store.messages.thread(chat.id)
            assert [m.content for m in thread[:3]] == ["earlier question", "earlier answer",
                                                        "a long story please"]
            assert thread[3].content == saved and thread[3].error == INTERRUPTED_ERROR
        assert integrity(path) == ["ok"]


def test_a_disk_too_full_to_open_for_writing(tmp_path):
    folder = tmp_path / "small-disk"
    with tiny_filesystem(folder, 1024):
        path = folder / "hearth.db"
        with Store(path) as store:
            store.conversations.create("Readable")
        filler = fill(folder)
        store, report = open_store(path)
        with store:
            assert [c.title for c in store.conversations.list()] == ["Readable"]
            with pytest.raises(StorageError, match="(?i)the disk (is|was) full") as caught:
                store.conversations.create("no room")
            assert "\n" not in str(caught.value)
            if report.read_only:
                assert report.notice.startswith("The disk is full: ")
        filler.unlink()
        assert integrity(path) == ["ok"]


def test_no_upgrade_without_room_for_its_backup(tmp_path):
    """The backup before a migration cannot be written: nothing is migrated, the partial
    copy is gone, and the session opens read-only on an upgraded copy in memory."""
    folder = tmp_path / "small-disk"
    with tiny_filesystem(folder, 1024):
        path = folder / "hearth.db"
        build_at_version(path, 5)
        before = path.read_bytes()
        fill(folder, leave=8 * 1024)
        store, report = open_store(path)
        with store:
            assert report.read_only and "disk is full" in report.read_only_reason.lower()
            assert store.schema_version == latest_version()
            assert "Coffee ☕" in [c.title for c in store.conversations.list()]
        assert path.read_bytes() == before  # SQLite may have made its -shm: no data there
        assert list_backups(path) == [] and not list((folder / "backups").glob("*partial*"))


CHILD = r"""
import json, resource, signal, sys
sys.path.insert(0, sys.argv[1])
from storage import Store, StorageError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
store = Store(sys.argv[2])
chat = store.conversations.create("Earlier")
store.messages.add(chat.id, "user", "earlier question")
_, answer = store.messages.add_turn(chat.id, "go on")
import os
limit = max(os.path.getsize(sys.argv[2] + s) for s in ("", "-wal")) + 128 * 1024
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
saved, text = "", ""
try:
    for i in range(100_000):
        text += f"token{i} " * 40
        store.messages.update(answer.id, content=text)
        saved = text
except StorageError as exc:
    error = exc
kept = store.messages.get(answer.id).content
print(json.dumps({"error": type(error).__name__, "message": str(error),
                  "saved": len(saved), "kept": len(kept)}))
"""


def test_a_file_size_limit_in_a_real_process(tmp_path):
    path = tmp_path / "hearth.db"
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["error"] in ("StorageFullError", "StorageIOError")
    assert "\n" not in result["message"] and "everything saved before is kept" in result["message"]
    assert result["kept"] == result["saved"] > 0
    assert integrity(path) == ["ok"]
    with Store(path) as store:
        assert store.messages.thread(1)[0].content == "earlier question"
