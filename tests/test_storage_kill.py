"""kill -9 at random moments of a migration, a prompt import and a document index (real child
processes, tests/fixtures/storage_child.py): afterwards the database passes PRAGMA
integrity_check and holds exactly the state before or after (for a migration: after a whole
number of migrations, each all-or-nothing).  And the start after a kill -9 mid-answer.

HEARTH_KILL_RUNS sets the number of kills per job: 10 by default, to keep the suite quick
(each run starts a Python process); run it with 40 or more after touching storage."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fixtures.storage_child import (DOCUMENT_SHA, DOCUMENT_WORD, NEW_PROMPTS, OLD_PROMPTS,
                                    big_document)
from fixtures.storage_faults import integrity, start_child, stop_child
from sqlite_utils import Database

from storage import INTERRUPTED_ERROR, Store, apply_migrations, latest_version, list_backups, open_store
from storage.documents import Extracted, Location, Unit, chunk

RUNS = int(os.environ.get("HEARTH_KILL_RUNS", "10"))
PARALLEL = 4
OLD_VERSION = 4
CONVERSATIONS, PER_CONVERSATION = 400, 50  # 20,000 messages: a migration of about a second


def kill_at_random(job: str, template: Path, folder: Path, state) -> Counter:
    """Run ``job`` on copies of ``template``: once to the end (its duration sets the range of
    delays), then RUNS times killed after a random delay; ``state(path)`` checks the
    database and names its state.  Returns how many runs ended in each state."""
    rng = random.Random(job)

    def fresh(name: str) -> Path:
        path = folder / name / "hearth.db"
        path.parent.mkdir(parents=True)
        shutil.copy(template, path)
        return path

    def to_the_end(run: int) -> float:
        path = fresh(f"to-the-end-{run}")
        child = start_child(job, path, wait_for="ready")
        started = time.monotonic()
        assert child.stdout.readline().strip() == "done", child.stderr.read()
        duration = time.monotonic() - started
        stop_child(child)
        assert state(path) == "new"
        return duration

    # Timed as the kills run, a few at once (most of a run is waiting for its moment).
    with ThreadPoolExecutor(PARALLEL) as pool:
        duration = max(pool.map(to_the_end, range(PARALLEL)))

    def killed(run: int, delay: float) -> str:
        path = fresh(f"run-{run}")
        child = start_child(job, path, wait_for="ready")
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert integrity(path) == ["ok"], f"run {run}, killed after {delay:.3f} s"
        return state(path)

    delays = [rng.uniform(0, duration * 1.1) for _ in range(RUNS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        seen = Counter(pool.map(killed, range(RUNS), delays))
    assert seen["old"] >= 1, seen  # some kills landed before the work was committed
    print(f"{job}: {RUNS} kills over {duration:.2f} s of work: {dict(seen)}")
    return seen


def rows_digest(conn: sqlite3.Connection, sql: str) -> str:
    return hashlib.sha256(repr(conn.execute(sql).fetchall()).encode()).hexdigest()


# -- a migration of a big database ---------------------------------------------------------

MESSAGES_AT_V4 = ("SELECT id, conversation_id, role, content, reasoning, status, effort, stats,"
                  " created_at, updated_at FROM messages ORDER BY id")


def schema_at(version: int, folder: Path) -> list:
    path = folder / f"schema-v{version}.db"
    if not path.exists():
        conn = sqlite3.connect(path, isolation_level=None)
        apply_migrations(Database(conn, recursive_triggers=False, execute_plugins=False),
                         target=version)
        conn.close()
    return schema_of(path)


def schema_of(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                            " ORDER BY type, name").fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def v4_database(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("v4") / "hearth.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    apply_migrations(Database(conn, recursive_triggers=False, execute_plugins=False),
                     target=OLD_VERSION)
    now = "2024-01-01T00:00:00.000000+00:00"
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda café".split()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO conversations VALUES (?, ?, ?, ?)",
                     [(c, f"chat {c}", now, now) for c in range(1, CONVERSATIONS + 1)])
    conn.executemany(
        "INSERT INTO messages (id, conversation_id, role, content, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(i, (i - 1) // PER_CONVERSATION + 1, "user" if i % 2 else "assistant",
          " ".join(words[(i * j) % 12] for j in range(60)) + f" m{i}", now, now)
         for i in range(1, CONVERSATIONS * PER_CONVERSATION + 1)])
    conn.execute("COMMIT")
    digest = rows_digest(conn, MESSAGES_AT_V4)
    conn.close()
    return path, digest


def test_kill_during_a_migration(v4_database, tmp_path):
    template, digest = v4_database
    schemas = {v: schema_at(v, tmp_path) for v in range(OLD_VERSION, latest_version() + 1)}

    def state(path: Path) -> str:
        conn = sqlite3.connect(path)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            assert OLD_VERSION <= version <= latest_version()
            assert schema_of(path) == schemas[version]  # each migration whole, or not at all
            assert rows_digest(conn, MESSAGES_AT_V4) == digest
            if version >= 5:  # the branch backfill is complete, never half done
                assert conn.execute("SELECT count(*) FROM messages WHERE parent_id IS NULL"
                                    ).fetchone()[0] == CONVERSATIONS
                assert conn.execute("SELECT count(*) FROM conversations"
                                    " WHERE current_leaf_id IS NULL").fetchone()[0] == 0
        finally:
            conn.close()
        for backup in list_backups(path):  # a backup that is listed is complete
            assert backup.schema_version == OLD_VERSION and integrity(backup.path) == ["ok"]
            copy = sqlite3.connect(backup.path)
            assert rows_digest(copy, MESSAGES_AT_V4) == digest
            copy.close()
        return {OLD_VERSION: "old", latest_version(): "new"}.get(version, f"v{version}")

    seen = kill_at_random("migrate", template, tmp_path, state)
    # The next start finishes the job, after backing up the version it found.
    killed = next(p for p in sorted(tmp_path.glob("run-*/hearth.db")) if state(p) != "new")
    store, report = open_store(killed)
    with store:
        assert store.schema_version == latest_version() and report.damage is None
        assert report.migration_backup.schema_version == report.migrated_from
        assert len(store.messages.thread(CONVERSATIONS)) == PER_CONVERSATION
        assert store.search("m777")
    conn = sqlite3.connect(killed)
    assert rows_digest(conn, MESSAGES_AT_V4) == digest, seen
    conn.close()


# -- a prompt import --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def with_prompts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "hearth.db"
    with Store(path) as store:
        for i in range(OLD_PROMPTS):
            store.prompts.create(name=f"prompt {i}", kind="preset", body=f"old body {i}")
    return path


def test_kill_during_a_prompt_import(with_prompts, tmp_path):
    def state(path: Path) -> str:
        conn = sqlite3.connect(path)
        try:
            bodies = dict(conn.execute("SELECT name, body FROM prompts").fetchall())
            versions = conn.execute("SELECT count(*) FROM prompt_versions").fetchone()[0]
        finally:
            conn.close()
        old = {f"prompt {i}": f"old body {i}" for i in range(OLD_PROMPTS)}
        new = {**{f"prompt {i}": f"new body {i}" for i in range(OLD_PROMPTS)},
               **{f"imported {i}": f"imported body {i}" for i in range(NEW_PROMPTS)}}
        if bodies == old and versions == 0:
            return "old"
        assert bodies == new and versions == OLD_PROMPTS
        return "new"

    kill_at_random("import-prompts", with_prompts, tmp_path, state)


# -- a document index -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def with_a_document(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("documents") / "hearth.db"
    with Store(path) as store:
        store.documents.add(Extracted((Unit("A short note about the budget.",
                                            Location(section="")),), "Note", "markdown"),
                            sha256="a" * 64, name="note.md", size=30)
    return path


def test_kill_during_a_document_index(with_a_document, tmp_path):
    expected_chunks = len(chunk(big_document()))

    def state(path: Path) -> str:
        conn = sqlite3.connect(path)
        try:
            conn.execute("INSERT INTO document_chunks_fts (document_chunks_fts)"
                         " VALUES ('integrity-check')")  # raises if the index disagrees
            documents = dict(conn.execute("SELECT sha256, chunk_count FROM documents").fetchall())
            chunks = conn.execute("SELECT count(*) FROM document_chunks").fetchone()[0]
            found = conn.execute("SELECT count(*) FROM document_chunks_fts"
                                 " WHERE document_chunks_fts MATCH ?", (DOCUMENT_WORD,)).fetchone()[0]
        finally:
            conn.close()
        if documents == {"a" * 64: 1}:
            assert chunks == 1 and found == 0
            return "old"
        assert documents == {"a" * 64: 1, DOCUMENT_SHA: expected_chunks}
        assert chunks == 1 + expected_chunks and found == expected_chunks
        return "new"

    kill_at_random("index-document", with_a_document, tmp_path, state)


# -- kill -9 mid-answer, then the next start ---------------------------------------------------

def test_the_answer_of_a_killed_process_is_kept_and_marked_at_the_next_start(tmp_path):
    path = tmp_path / "hearth.db"
    Store(path).close()
    child = start_child("stream", path)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    store, report = open_store(path)
    with store:
        assert report.interrupted == 1 and report.unclean and report.check == "full"
        (chat,) = store.conversations.list()
        user, answer = store.messages.thread(chat.id)
        assert user.content == "Tell me a story"
        assert (answer.content, answer.status, answer.error) == (
            "Once upon a time", "failed", INTERRUPTED_ERROR)
    assert integrity(path) == ["ok"]


def test_an_answer_another_process_is_writing_is_left_alone(tmp_path):
    """`hearth chat` starting while the window streams an answer must not mark it."""
    path = tmp_path / "hearth.db"
    Store(path).close()
    window = start_child("stream", path)
    try:
        store, report = open_store(path)
        with store:
            assert report.interrupted == 0 and not report.unclean
            assert store.messages.mark_interrupted() == 0  # as the CLI or the window calls it
            (answer,) = [m for m in store.messages.list_for(1) if m.role == "assistant"]
            assert answer.status == "streaming"
    finally:
        window.send_signal(signal.SIGKILL)
        window.wait(30)
    store, report = open_store(path)  # once it is gone, the next start marks it
    with store:
        assert report.interrupted == 1
