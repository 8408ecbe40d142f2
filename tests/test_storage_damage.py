"""A damaged database at start-up and mid-session: set aside (never deleted), a new one
started, the user told, and a backup restorable."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fixtures.storage_faults import (DAMAGE_KINDS, checkpoint, damage, integrity, snapshot,
                                     start_child, stop_child)

import storage.startup
from storage import (DatabaseDamagedError, SchemaTooNewError, StorageError, Store,
                     daily_backup, latest_version, list_backups, open_store, restore_backup)

SET_ASIDE = re.compile(r"^hearth\.db\.damaged-\d{8}-\d{6}(-\d+)?$")


def chats(store: Store) -> list[str]:
    return [c.title for c in store.conversations.list()]


def broken(path: Path) -> bool:
    try:
        with Store(path) as plain:
            return plain.db.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except (sqlite3.Error, StorageError, SchemaTooNewError):
        return True


@pytest.fixture
def saved(tmp_path) -> Path:
    """hearth.db with two chats and a daily backup of them, closed cleanly."""
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        for title in ("Coffee", "Taxes"):
            chat = store.conversations.create(title)
            _, answer = store.messages.add_turn(chat.id, f"about {title.lower()}")
            store.messages.update(answer.id, content="an answer", status="complete")
        for i in range(150):  # enough rows for pages beyond the first few
            store.messages.add(chat.id, "user", f"note {i} " + "filler text " * 30)
        daily_backup(store)
    checkpoint(path)
    return path


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_database_is_set_aside_and_a_new_one_started(saved, kind):
    damage(saved, kind, seed=7)
    assert broken(saved)  # every command met a traceback here before
    damaged = None if kind == "a-directory" else saved.read_bytes()

    store, report = open_store(saved)
    with store:
        assert report.set_aside is not None and SET_ASIDE.match(report.set_aside.name)
        assert report.damage and not report.read_only
        if damaged is not None:
            assert report.set_aside.read_bytes() == damaged  # kept, byte for byte
        else:
            assert (report.set_aside / "stray.txt").exists()
        assert [b.kind for b in report.backups] == ["daily"]
        assert report.set_aside.name in report.notice and "restore" in report.notice
        assert store.path == saved and chats(store) == []
        store.conversations.create("life goes on")
        assert chats(store) == ["life goes on"]
    assert integrity(saved) == ["ok"]


def test_the_damaged_files_wal_goes_with_it(saved):
    """A -wal left by a killed process is renamed with its database: the new database never
    picks up the old one's log, and the set-aside pair still opens together."""
    child = start_child("stream", saved)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    wal = Path(f"{saved}-wal")
    assert wal.stat().st_size > 0
    wal_bytes = wal.read_bytes()
    damage(saved, "bad-header")

    store, report = open_store(saved)
    with store:
        assert Path(f"{report.set_aside}-wal").read_bytes() == wal_bytes
        assert chats(store) == []
        store.conversations.create("new")
    assert integrity(saved) == ["ok"]


def test_a_restored_backup_brings_the_chats_back(saved):
    damage(saved, "zeroed-schema")
    store, report = open_store(saved)
    store.conversations.create("written after the damage")
    store.close()

    aside = restore_backup(report.backups[0], saved)
    assert aside is not None and aside.name.startswith("hearth.db.before-restore-")
    with Store(aside) as previous:  # the replaced database is kept too
        assert chats(previous) == ["written after the damage"]
    store, again = open_store(saved)
    with store:
        assert sorted(chats(store)) == ["Coffee", "Taxes"]
        assert again.damage is None and store.search("taxes")


def test_restoring_an_older_backup_upgrades_it_after_backing_it_up(tmp_path):
    from fixtures.storage_faults import build_at_version

    old = tmp_path / "old.db"
    build_at_version(old, 6)
    path = tmp_path / "hearth.db"
    Store(path).close()
    folder = path.parent / "backups"
    folder.mkdir()
    os.replace(old, folder / "hearth-v6-20240501-100000.db")
    (backup,) = list_backups(path)
    assert backup.schema_version == 6 and backup.kind == "migration"

    restore_backup(backup, path)
    store, report = open_store(path)
    with store:
        assert report.migrated_from == 6 and store.schema_version == latest_version()
        assert "Coffee ☕" in chats(store)
        assert report.migration_backup is not None and report.migration_backup.schema_version == 6


def test_a_damaged_backup_is_refused_and_nothing_changes(saved):
    (backup,) = list_backups(saved)
    damage(backup.path, "random-pages", seed=3)
    before = snapshot(saved)
    with pytest.raises(DatabaseDamagedError, match="damaged too"):
        restore_backup(backup, saved)
    assert snapshot(saved) == before and not list(saved.parent.glob("hearth.db.before-*"))


def test_restore_waits_for_every_store_to_close(saved):
    (backup,) = list_backups(saved)
    with Store(saved):
        with pytest.raises(RuntimeError, match="close every Store"):
            restore_backup(backup, saved)
    other = start_child("hold", saved)
    try:
        with pytest.raises(StorageError, match="close them all"):
            restore_backup(backup, saved)
    finally:
        stop_child(other)
    assert restore_backup(backup, saved) is not None


def test_damage_is_not_set_aside_under_another_process(saved):
    """Renamed under a running window, the database would take that window's new chats with
    it; the user is asked to close it instead."""
    other = start_child("hold", saved)
    try:
        damage(saved, "bad-header")
        damaged = saved.read_bytes()
        with pytest.raises(DatabaseDamagedError, match="close them all"):
            open_store(saved)
        assert saved.read_bytes() == damaged and not list(saved.parent.glob("*.damaged-*"))
    finally:
        stop_child(other)


def test_damage_met_mid_session_tells_the_user_what_is_safe(saved, monkeypatch):
    """A large database gets only a partial check at start; damage found later raises a
    DatabaseDamagedError saying up to when the data is safe, and the next start sets it aside."""
    damage(saved, "messages-root")
    monkeypatch.setattr(storage.startup, "FULL_CHECK_MAX_BYTES", 0)  # as if it were large
    store, report = open_store(saved)
    with store:
        assert report.check == "partial" and report.set_aside is None
        assert sorted(chats(store)) == ["Coffee", "Taxes"]  # the sidebar still works
        chat = store.conversations.list()[0]
        with pytest.raises(DatabaseDamagedError) as caught:
            store.messages.thread(chat.id)
        backup = list_backups(saved)[0]
        assert f"Your chats up to {backup.created:%Y-%m-%d %H:%M} are safe" in str(caught.value)
        assert "start it again" in str(caught.value)
        with pytest.raises(DatabaseDamagedError):
            store.search("answer")
    monkeypatch.undo()
    store, report = open_store(saved)
    with store:
        assert report.set_aside is not None and report.check == "full"


def test_an_empty_file_is_a_new_database(tmp_path):
    """SQLite's rule, kept: a zero-byte file is an empty database, not damage."""
    path = tmp_path / "hearth.db"
    path.touch()
    store, report = open_store(path)
    with store:
        assert report.set_aside is None and report.notice is None
        assert store.schema_version == latest_version()


def test_a_clean_start_reports_nothing(saved):
    store, report = open_store(saved)
    with store:
        assert report.notice is None and report.check == "full" and not report.unclean
        assert sorted(chats(store)) == ["Coffee", "Taxes"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "hearth.db"
    with Store(path) as store:
        for i in range(30):
            chat = store.conversations.create(f"chat {i}")
            _, answer = store.messages.add_turn(chat.id, f"question {i} " * 20)
            store.messages.update(answer.id, content=f"answer {i} " * 40, status="complete")
    checkpoint(path)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2**20), st.binary(min_size=1, max_size=64)),
                min_size=1, max_size=6))
def test_any_damage_ends_in_a_usable_store(tmp_path_factory, pristine, patches):
    """Bytes overwritten anywhere in a database: open_store always returns a Store that can
    be written to (the damaged file set aside when the check sees the damage)."""
    path = tmp_path_factory.mktemp("fuzz") / "hearth.db"
    original = pristine.read_bytes()
    data = bytearray(original)
    for offset, patch in patches:
        offset %= len(data)
        data[offset:offset + len(patch)] = patch
    path.write_bytes(bytes(data[:len(original)]))
    store, report = open_store(path)
    with store:
        assert not report.read_only
        try:  # damage the check cannot see: read, or a one-line DatabaseDamagedError
            for chat in store.conversations.list():
                store.messages.thread(chat.id)
            store.search("answer")
        except DatabaseDamagedError:
            pass
        store.conversations.create("still works")
        if report.set_aside is not None:
            assert report.set_aside.read_bytes() == bytes(data[:len(original)])


def test_text_and_json_damaged_in_place_are_read_not_raised(saved):
    """Bytes flipped inside a value leave the b-trees sound, so PRAGMA quick_check passes;
    the chat still opens, with U+FFFD for bytes that are not UTF-8 and empty stats."""
    conn = sqlite3.connect(saved)
    conn.execute("UPDATE messages SET content = CAST(x'416e737765722080ff21' AS TEXT),"
                 " stats = '{\"decode_tps\"; 3' WHERE id = 2")
    conn.execute("UPDATE conversations SET title = CAST(x'436f66666580' AS TEXT) WHERE id = 1")
    conn.execute("INSERT INTO settings VALUES ('theme', '{\"broken', '2025-01-01')")
    conn.commit()
    conn.close()
    store, report = open_store(saved)
    with store:
        assert report.damage is None
        assert "Coffe\ufffd" in chats(store)
        user, answer = store.messages.thread(1)[:2]
        assert answer.content == "Answer \ufffd\ufffd!" and answer.stats == {}
        assert store.search("answer")
        assert store.settings.get("theme", "light") == "light"
