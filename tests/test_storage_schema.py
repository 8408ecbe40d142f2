"""Schema, migrations, connection settings and data-folder resolution."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlite_utils import Database

import storage
from storage import Store, apply_migrations, latest_version, schema_version
from storage.migrations import MIGRATIONS, Migration, SchemaTooNewError, execute_script

EXPECTED_COLUMNS = {
    "conversations": [
        "id", "title", "created_at", "updated_at", "current_leaf_id", "pinned", "deleted_at",
        "preset_id",
    ],
    "messages": [
        "id", "conversation_id", "role", "content", "reasoning", "status", "effort",
        "model_name", "model_sha256", "stats", "error", "created_at", "updated_at",
        "parent_id", "deleted_at",
    ],
    "settings": ["key", "value", "updated_at"],
    "model_files": ["path", "size", "mtime_ns", "sha256", "hashed_at"],
    "prompts": ["id", "name", "kind", "body", "tags", "favourite", "effort", "temperature",
                "n_ctx", "created_at", "updated_at"],
    "prompt_versions": ["id", "prompt_id", "snapshot", "created_at"],
    "tool_calls": ["id", "message_id", "seq", "recipient", "arguments", "channel", "content_type",
                   "constrained", "call_id", "reasoning", "preamble", "status", "result", "error",
                   "pages", "started_at", "duration_s"],
    "library_folders": ["id", "path", "name", "include", "exclude", "added_at", "scanned_at"],
    "library_files": ["id", "folder_id", "path", "size", "mtime_ns", "sha256", "document_id",
                      "status", "reason", "updated_at"],
    "library_dropped": ["document_id"],
}


def raw_db(path: Path) -> Database:
    """A bare connection like Store's, without running any migration."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    return Database(conn, recursive_triggers=False, execute_plugins=False)


def test_final_schema(tmp_path):
    with Store(tmp_path / "hearth.db") as store:
        db = store.db
        assert schema_version(db) == latest_version() == len(MIGRATIONS) == 12
        assert store.schema_version == 12
        for table, columns in EXPECTED_COLUMNS.items():
            assert [c.name for c in db[table].columns] == columns, table
        assert db["conversations"].pks == ["id"]
        assert db["messages"].pks == ["id"]
        assert db["settings"].pks == ["key"]
        assert db["model_files"].pks == ["path"]
        fks = db["messages"].foreign_keys
        assert sorted((fk.column, fk.other_table, fk.other_column, fk.on_delete)
                      for fk in fks) == [
            ("conversation_id", "conversations", "id", "CASCADE"),
            ("parent_id", "messages", "id", "CASCADE"),
        ]
        assert [(fk.column, fk.other_table, fk.on_delete) for fk in db["conversations"].foreign_keys
                ] == [("preset_id", "prompts", "SET NULL")]
        assert [(fk.column, fk.other_table, fk.on_delete) for fk in db["prompt_versions"].foreign_keys
                ] == [("prompt_id", "prompts", "CASCADE")]
        not_null = {c.name for c in db["messages"].columns if c.notnull}
        assert {"conversation_id", "role", "content", "reasoning", "status", "stats"} <= not_null
        assert not {"effort", "model_name", "model_sha256", "error", "parent_id",
                    "deleted_at"} & not_null
        pinned = next(c for c in db["conversations"].columns if c.name == "pinned")
        assert pinned.notnull and pinned.default_value == "0"
        assert "messages_fts" in db.table_names()
        fts_sql = db["messages_fts"].schema
        assert "fts5" in fts_sql and "content_rowid" in fts_sql
        assert [c.name for c in db["messages_fts"].columns] == ["content", "reasoning"]
        assert "messages_searchable" in db.view_names()
        assert {t.name for t in db.triggers} == {
            "messages_fts_insert", "messages_fts_delete", "messages_fts_update",
            "document_chunks_fts_insert", "document_chunks_fts_delete",
            "document_chunks_cjk_delete",
        }
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert {"messages_by_conversation", "messages_by_parent", "conversations_sidebar",
                "messages_streaming"} <= indexes
        assert "conversations_recent" not in indexes  # replaced by conversations_sidebar


def test_columns_are_commented(tmp_path):
    """Every column definition carries a comment before the next column starts: "--"
    in CREATE TABLE, /* */ for columns added later (see storage.schema)."""
    with Store(tmp_path / "hearth.db") as store:
        for table, columns in EXPECTED_COLUMNS.items():
            sql = store.db[table].schema
            for column in columns:
                commented = rf"(?:^|,)\s*{column}\s[^,]*?,?[ \t]*(?:--|/\*)"
                assert re.search(commented, sql, re.MULTILINE), (column, sql)


def test_connection_pragmas(tmp_path):
    with Store(tmp_path / "hearth.db") as store:
        pragma = lambda name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert store.journal_mode == pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000
        assert pragma("synchronous") == 1  # NORMAL
    with Store(tmp_path / "other.db", busy_timeout_ms=250) as store:
        assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 250


def test_reopen_is_idempotent_and_keeps_data(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        chat = store.conversations.create("Kept")
        store.messages.add(chat.id, "user", "persisted words")
        schema_before = store.db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    for _ in range(2):
        with Store(path) as store:
            assert store.schema_version == latest_version()
            assert store.db.execute("SELECT type, name, sql FROM sqlite_master").fetchall() == (
                schema_before
            )
            assert [c.title for c in store.conversations.list()] == ["Kept"]
            assert [h.conversation_title for h in store.search("persisted")] == ["Kept"]


def test_old_database_is_upgraded(tmp_path):
    path = tmp_path / "hearth.db"
    db = raw_db(path)
    assert apply_migrations(db, target=1) == 1
    assert "messages_fts" not in db.table_names() and "settings" not in db.table_names()
    now = "2024-01-01T00:00:00.000000+00:00"
    db.execute("INSERT INTO conversations VALUES (1, 'Old chat', ?, ?)", (now, now))
    for role, content, status in [
        ("user", "ancient question", "complete"),
        ("assistant", "half written answer", "streaming"),
    ]:
        db.execute(
            "INSERT INTO messages (conversation_id, role, content, status, created_at,"
            " updated_at) VALUES (1, ?, ?, ?, ?, ?)",
            (role, content, status, now, now),
        )
    db.close()

    with Store(path) as store:
        assert store.schema_version == latest_version()
        assert set(EXPECTED_COLUMNS) <= set(store.db.table_names())
        # Migration 2 indexed the rows that already existed, except the streaming one.
        assert [h.message_id for h in store.search("ancient")] == [1]
        assert store.search("half") == []
        assert store.messages.mark_interrupted() == 1
        assert [h.message_id for h in store.search("half")] == [2]
        store.settings.set("upgraded", True)
        assert store.settings.get("upgraded") is True


def test_v4_database_becomes_one_branch_per_conversation(tmp_path):
    """Migrations 5-6 backfill: each message follows the previous one of its chat, and
    each chat shows its last message; nothing is pinned, deleted or trashed."""
    path = tmp_path / "hearth.db"
    db = raw_db(path)
    assert apply_migrations(db, target=4) == 4
    now = "2024-01-01T00:00:00.000000+00:00"
    for chat_id in (1, 2, 3):
        db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)", (chat_id, f"c{chat_id}", now, now))
    # Interleaved chats, and a gap where message 4 was deleted.
    for message_id, chat_id in [(1, 1), (2, 1), (3, 2), (5, 2), (6, 1), (7, 1)]:
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, chat_id, "user" if message_id % 2 else "assistant", f"m{message_id}",
             now, now),
        )
    db.close()

    with Store(path) as store:
        assert store.schema_version == latest_version()
        parents = dict(store.db.execute("SELECT id, parent_id FROM messages").fetchall())
        assert parents == {1: None, 2: 1, 6: 2, 7: 6, 3: None, 5: 3}
        chats = {c.id: c for c in store.conversations.list()}
        assert {i: c.current_leaf_id for i, c in chats.items()} == {1: 7, 2: 5, 3: None}
        assert all(not c.pinned and c.deleted_at is None for c in chats.values())
        for chat_id in (1, 2, 3):
            assert store.messages.thread(chat_id) == store.messages.list_for(chat_id)
        assert all(m.deleted_at is None for m in store.messages.list_for(1))
        assert [m.content for m in store.messages.thread(1)] == ["m1", "m2", "m6", "m7"]
        # New messages continue the old branch.
        added = store.messages.add(1, "user", "new")
        assert added.parent_id == 7 and store.conversations.get(1).current_leaf_id == added.id
        assert store.messages.add(3, "user", "first").parent_id is None
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_interrupted_answers_are_found_through_the_streaming_index(tmp_path):
    """Start-up recovery must not scan every message (0.4-1 s with a million of them)."""
    with Store(tmp_path / "hearth.db") as store:
        chat = store.conversations.create()
        store.messages.add_turn(chat.id, "question")
        plan = store.conn.execute(
            "EXPLAIN QUERY PLAN UPDATE messages SET status = 'failed' WHERE status = 'streaming'"
        ).fetchall()
        assert "messages_streaming" in " ".join(row[-1] for row in plan)
        assert store.messages.mark_interrupted() == 1


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "hearth.db"
    Store(path).close()
    db = raw_db(path)
    db.execute(f"PRAGMA user_version = {latest_version() + 1}")
    db.close()
    with pytest.raises(SchemaTooNewError):
        Store(path)


def test_failed_migration_rolls_back_alone(tmp_path):
    db = raw_db(tmp_path / "hearth.db")

    def good(db):
        execute_script(db, "CREATE TABLE a (x); CREATE TABLE b (y);")

    def bad(db):
        db.execute("CREATE TABLE c (z)")
        raise RuntimeError("boom")

    steps = [Migration(1, "good", good), Migration(2, "bad", bad)]
    with pytest.raises(RuntimeError, match="boom"):
        apply_migrations(db, migrations=steps)
    assert schema_version(db) == 1
    assert set(db.table_names()) == {"a", "b"}
    assert not db.conn.in_transaction


def test_migration_numbers_must_be_sequential():
    with pytest.raises(RuntimeError, match="expected"):
        storage.migrations.migration(1)(lambda db: None)
    assert len(MIGRATIONS) == latest_version()


def test_execute_script_keeps_trigger_bodies_whole(tmp_path):
    db = raw_db(tmp_path / "x.db")
    execute_script(
        db,
        """
        CREATE TABLE t (v); CREATE TABLE log (v);
        CREATE TRIGGER t_log AFTER INSERT ON t BEGIN
            INSERT INTO log VALUES (NEW.v); INSERT INTO log VALUES (NEW.v * 10);
        END;
        INSERT INTO t VALUES (1);
        """,
    )
    assert db.execute("SELECT v FROM log ORDER BY v").fetchall() == [(1,), (10,)]
    with pytest.raises(ValueError, match="incomplete"):
        execute_script(db, "CREATE TRIGGER t_x AFTER INSERT ON t BEGIN SELECT 1;")
    assert "t_x" not in {t.name for t in db.triggers}


def test_default_data_dir_honours_env(tmp_path, monkeypatch):
    target = tmp_path / "nested" / "data"
    monkeypatch.setenv("HEARTH_DATA_DIR", str(target))
    assert storage.default_data_dir() == target and target.is_dir()
    assert storage.database_path() == target / "hearth.db"
    other = tmp_path / "explicit"
    assert storage.database_path(other) == other / "hearth.db" and other.is_dir()
    with Store() as store:
        assert store.path == target / "hearth.db"
    assert (target / "hearth.db").is_file()


@pytest.mark.skipif(sys.platform != "linux", reason="redirects the folder via XDG_DATA_HOME")
def test_default_data_dir_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("HEARTH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert storage.default_data_dir() == tmp_path / "xdg" / "Hearth"
    assert (tmp_path / "xdg" / "Hearth").is_dir()


def test_storage_never_imports_gui_or_inference():
    code = (
        "import sys, storage; bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'app', 'inference', 'llama_cpp')]; print(bad)"
    )
    root = Path(storage.__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_close_is_idempotent_and_final(tmp_path):
    store = Store(tmp_path / "hearth.db")
    assert "schema_version=12" in repr(store)
    store.close()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.conversations.list()


def test_in_memory_store_for_throwaway_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Store(":memory:") as store:
        assert store.journal_mode == "memory"
        assert store.schema_version == latest_version()
        chat = store.conversations.create()
        store.messages.add_turn(chat.id, "not kept")
        assert [h.message_id for h in store.search("kept")] == [1]
    assert list(tmp_path.iterdir()) == []  # no file named ':memory:'
    with Store(":memory:") as store:
        assert store.conversations.list() == []


def test_a_throwaway_in_memory_store_is_reachable_from_another_thread():
    """hearth chat without --save keeps its turn in memory; a tool on a thread of its own
    (document search) reopens the same database, not a new empty one."""
    import threading

    with Store(":memory:") as store:
        store.conversations.create("Only in memory")
        seen = []

        def other():
            with store.reopen() as again:
                seen.extend(c.title for c in again.conversations.list())
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == ["Only in memory"]
    with Store(":memory:") as fresh:  # and each throwaway store is its own
        assert fresh.conversations.list() == []
