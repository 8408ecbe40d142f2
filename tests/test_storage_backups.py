"""Backups: one before every migration (an upgrade from each earlier schema version keeps
every row and leaves a copy of that version), daily ones, and how many are kept."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest
from fixtures.storage_faults import (build_at_version, columns_by_table, damage, integrity,
                                     table_rows)

from storage import (DatabaseDamagedError, Store, daily_backup, latest_version, list_backups,
                     open_store)
from storage.backups import KEEP_DAILY, KEEP_MIGRATION, backups_dir, make_backup


@pytest.mark.parametrize("version", range(1, latest_version()))
def test_upgrade_from_every_earlier_version(tmp_path, version):
    path = tmp_path / "hearth.db"
    build_at_version(path, version)
    columns = columns_by_table(path)
    before = table_rows(path)
    assert before["conversations"] and before["messages"]

    store, report = open_store(path)
    with store:
        assert store.schema_version == latest_version() and report.migrated_from == version
        backup = report.migration_backup
        assert backup is not None and backup.schema_version == version
        assert backup.path.name.startswith(f"hearth-v{version}-")
        assert list_backups(path) == [backup] and report.backups == [backup]
        # Every row of every table survived, in the columns it had.
        after = table_rows(path, columns)
        assert {t: after[t] for t in before} == before
        # And the app reads it: threads, search (migration 2 indexed the old rows), documents.
        assert [m.content for m in store.messages.thread(1)][:2] == [
            "How do I roast coffee beans?", "Roast them at 220 °C until first crack."]
        assert 8 in [h.message_id for h in store.search("zorvakel")]
        assert [h.message_id for h in store.search("café")] == [3]
        if version >= 8:
            ((hit, _score),) = store.documents.search_chunks([1], "quintarion")
            assert "margin" in hit.text
        store.conversations.create("written after the upgrade")
    assert integrity(path) == ["ok"]
    # The backup is the database as it was: same rows, same version, sound.
    assert table_rows(backup.path) == before and integrity(backup.path) == ["ok"]


def test_a_new_database_gets_no_backup(tmp_path):
    path = tmp_path / "hearth.db"
    store, report = open_store(path)
    store.close()
    assert report.migrated_from is None and not backups_dir(path).exists()


def test_only_the_newest_backups_of_each_kind_are_kept(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        start = datetime(2025, 1, 1, 12, 0, 0)
        for day in range(KEEP_MIGRATION + 2):
            make_backup(store.conn, path, 7, "migration", start + timedelta(days=day))
        for day in range(KEEP_DAILY + 3):
            assert daily_backup(store, start + timedelta(days=day, hours=1)) is not None
        stale = backups_dir(path) / ".hearth-v9-20250101-120000.db.abandoned.partial"
        stale.write_bytes(b"half a copy")
        os.utime(stale, (time.time() - 7200,) * 2)
        fresh = backups_dir(path) / ".hearth-v9-20250101-120001.db.writing.partial"
        fresh.write_bytes(b"being written by another process right now")
        make_backup(store.conn, path, 8, "migration", start + timedelta(days=30))
    kept = list_backups(path)
    migration = [b for b in kept if b.kind == "migration"]
    daily = [b for b in kept if b.kind == "daily"]
    assert len(migration) == KEEP_MIGRATION and len(daily) == KEEP_DAILY
    assert migration[0].created == start + timedelta(days=30) and migration[0].schema_version == 8
    assert [b.created.day for b in daily] == [5, 4]  # the newest, newest first
    assert not stale.exists() and fresh.exists()  # a partial copy is never listed


def test_daily_backup_once_a_day_and_never_of_a_damaged_database(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        store.conversations.create("Backed up")
        first = daily_backup(store)
        assert first is not None and first.kind == "daily"
        assert daily_backup(store) is None  # one a day
        with Store(first.path) as copy:
            assert [c.title for c in copy.conversations.list()] == ["Backed up"]
    damage(path, "messages-root")
    with Store(path) as store:
        with pytest.raises(DatabaseDamagedError):
            daily_backup(store, datetime.now() + timedelta(days=1))
    assert list_backups(path) == [first]
