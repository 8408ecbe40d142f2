"""A data folder or database that cannot be written: opened read-only, chats readable, every
write refused with one clear StorageReadOnlyError, and nothing on disk changed."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from fixtures.storage_faults import (build_at_version, damage, read_only_file, read_only_folder,
                                     snapshot, start_child)

from storage import (DATA_DIR_ENV, StorageError, StorageReadOnlyError, Store, latest_version,
                     open_store)
from storage.documents import Extracted, Location, Unit


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "hearth.db"
    with Store(path) as store:
        chat = store.conversations.create("Kept chat")
        _, answer = store.messages.add_turn(chat.id, "what is kept?")
        store.messages.update(answer.id, content="everything", status="complete")
        store.settings.set("theme", "dark")
    return path


WRITES = {
    "new chat": lambda s: s.conversations.create("new"),
    "rename": lambda s: s.conversations.rename(1, "renamed"),
    "message": lambda s: s.messages.add_turn(1, "hello"),
    "setting": lambda s: s.settings.set("theme", "light"),
    "prompt": lambda s: s.prompts.create(name="p", kind="quick", body="b"),
    "document": lambda s: s.documents.add(
        Extracted((Unit("text", Location(section="")),), None, "text"), sha256="a" * 64,
        name="a.txt", size=4),
    "raw SQL": lambda s: s.db.execute("DELETE FROM settings"),
}


def assert_read_only(store: Store) -> None:
    assert store.read_only
    assert [c.title for c in store.conversations.list()] == ["Kept chat"]
    assert [m.content for m in store.messages.thread(1)] == ["what is kept?", "everything"]
    assert [h.message_id for h in store.search("everything")] == [2]
    assert store.settings.get("theme") == "dark"
    assert store.messages.mark_interrupted() == 0  # start-up recovery: nothing to do here
    for name, write in WRITES.items():
        with pytest.raises(StorageReadOnlyError, match="read-only") as caught:
            write(store)
        assert "\n" not in str(caught.value), name


def test_read_only_folder(saved):
    before, listing = snapshot(saved), sorted(os.listdir(saved.parent))
    with read_only_folder(saved.parent):
        with pytest.raises(StorageError):  # a traceback on every command before
            Store(saved).conversations.create("x")
        store, report = open_store(saved)
        with store:
            assert report.read_only and "read-only" in report.read_only_reason
            assert report.notice == report.read_only_reason
            assert_read_only(store)
            worker = ThreadPoolExecutor(1)  # a worker thread opens its own, read-only as well
            other = worker.submit(store.reopen).result()
            try:
                worker.submit(assert_read_only, other).result()
            finally:
                worker.submit(other.close).result()
    assert snapshot(saved) == before and sorted(os.listdir(saved.parent)) == listing


def test_read_only_database_file(saved):
    before = saved.read_bytes()
    with read_only_file(saved):
        store, report = open_store(saved)
        with store:
            assert report.read_only and str(saved) in report.read_only_reason
            assert_read_only(store)
    assert saved.read_bytes() == before


def test_an_old_schema_in_a_read_only_folder_is_upgraded_in_memory(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "hearth.db"
    build_at_version(path, 5)
    before = snapshot(path)
    with read_only_folder(folder):
        store, report = open_store(path)
        with store:
            assert report.read_only and store.schema_version == latest_version()
            assert "Coffee ☕" in [c.title for c in store.conversations.list()]
            assert store.search("zorvakel")
            with pytest.raises(StorageReadOnlyError):
                store.conversations.create("x")
    assert snapshot(path) == before


def test_answers_left_in_the_wal_are_shown(saved):
    """A process killed mid-answer leaves its last writes in the -wal: read-only, they show."""
    child = start_child("stream", saved)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    with read_only_folder(saved.parent):
        store, report = open_store(saved)
        with store:
            assert report.read_only
            titles = [c.title for c in store.conversations.list()]
            assert "Streaming now" in titles and "Kept chat" in titles
            assert report.interrupted == 0  # nothing can be marked; it shows as it was


def test_a_data_folder_that_cannot_be_created(tmp_path, monkeypatch):
    parent = tmp_path / "locked"
    parent.mkdir()
    monkeypatch.setenv(DATA_DIR_ENV, str(parent / "Hearth"))
    with read_only_folder(parent):
        store, report = open_store()  # the default path: resolving it must not raise either
        with store:
            assert report.read_only and "cannot create its data folder" in report.read_only_reason
            assert store.conversations.list() == []
            with pytest.raises(StorageReadOnlyError):
                store.conversations.create("lost")
    assert not (parent / "Hearth").exists()


def test_a_damaged_database_in_a_read_only_folder(saved):
    damage(saved, "bad-header")
    before = snapshot(saved)
    with read_only_folder(saved.parent):
        store, report = open_store(saved)
        with store:
            assert report.read_only and report.damage and report.set_aside is None
            assert "could not be set aside" in report.notice
            assert store.conversations.list() == []
    assert snapshot(saved) == before


def test_store_read_only_flag(saved):
    before = saved.read_bytes()
    with Store(saved, read_only=True) as store:
        assert_read_only(store)
        assert "read-only" in repr(store)
    assert saved.read_bytes() == before
    with Store(saved) as store:
        assert not store.read_only
