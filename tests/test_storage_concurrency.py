"""Two Stores on one file in real threads: a writer streaming, a reader polling."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable

import pytest

from storage import Store, latest_version

TIMEOUT = 30


class Worker(threading.Thread):
    """Runs ``target`` in a thread, re-raising its exception in join_or_raise()."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc

    def join_or_raise(self) -> None:
        self.join(TIMEOUT)
        assert not self.is_alive(), "worker thread hung"
        if self.error is not None:
            raise self.error


def test_reader_sees_each_committed_update_in_lockstep(tmp_path):
    """Every update the writer commits is visible to the reader's own Store."""
    path = tmp_path / "hearth.db"
    with Store(path) as setup:
        chat = setup.conversations.create("stream")
    committed: queue.Queue = queue.Queue()
    acknowledged: queue.Queue = queue.Queue()
    steps = 25

    def write() -> None:
        with Store(path) as store:
            _, answer = store.messages.add_turn(chat.id, "go")
            committed.put((answer.id, ""))
            acknowledged.get(timeout=TIMEOUT)
            text = ""
            for i in range(steps):
                text += f"w{i} "
                store.messages.update(answer.id, content=text)
                committed.put((answer.id, text))
                acknowledged.get(timeout=TIMEOUT)
            store.messages.update(answer.id, status="complete")
            committed.put((answer.id, None))

    writer = Worker(write)
    writer.start()
    with Store(path) as reader:
        seen = []
        while True:
            answer_id, text = committed.get(timeout=TIMEOUT)
            message = reader.messages.get(answer_id)
            if text is None:
                assert message.status == "complete"
                break
            assert (message.status, message.content) == ("streaming", text)
            seen.append(message.content)
            acknowledged.put(True)
        assert reader.search("w24")[0].message_id == answer_id
    writer.join_or_raise()
    assert len(seen) == steps + 1


def test_free_running_writer_and_reader(tmp_path):
    """No 'database is locked' and only whole, growing snapshots while both run flat out."""
    path = tmp_path / "hearth.db"
    with Store(path) as setup:
        chat = setup.conversations.create("race")
        _, answer = setup.messages.add_turn(chat.id, "go")
    steps = 400
    done = threading.Event()
    saw_partial = threading.Event()

    def write() -> None:
        try:
            with Store(path) as store:
                text = ""
                for i in range(steps):
                    text += f"t{i} "
                    store.messages.update(answer.id, content=text, stats={"n": i + 1})
                    if i == steps // 2:  # make sure the reader looked mid-stream
                        assert saw_partial.wait(TIMEOUT)
                store.messages.update(answer.id, status="complete")
        finally:
            done.set()

    writer = Worker(write)
    with Store(path) as reader:
        writer.start()
        lengths = []
        while not done.is_set():
            message = reader.messages.get(answer.id)
            words = message.content.split()
            # Content and stats come from the same committed update.
            assert words == [f"t{i}" for i in range(len(words))]
            assert message.stats.get("n", 0) == len(words)
            lengths.append(len(words))
            if message.status == "streaming" and 0 < len(words) < steps:
                saw_partial.set()
            reader.conversations.list()
            reader.search("t1")
        writer.join_or_raise()
        final = reader.messages.get(answer.id)
    assert lengths == sorted(lengths)
    assert final.status == "complete" and len(final.content.split()) == steps


def test_concurrent_writers_wait_for_each_other(tmp_path):
    """busy_timeout + BEGIN IMMEDIATE: two writing threads never lose a write."""
    path = tmp_path / "hearth.db"
    with Store(path) as setup:
        chat = setup.conversations.create()
    per_thread = 150
    start = threading.Barrier(2)

    def write(tag: str) -> Callable[[], None]:
        def run() -> None:
            with Store(path) as store:
                start.wait(TIMEOUT)
                for i in range(per_thread):
                    store.messages.add_turn(chat.id, f"{tag}{i}")
        return run

    workers = [Worker(write("a")), Worker(write("b"))]
    for w in workers:
        w.start()
    for w in workers:
        w.join_or_raise()
    with Store(path) as store:
        messages = store.messages.list_for(chat.id)
        assert len(messages) == 4 * per_thread
        # Each turn's two rows were committed together: a user row is always
        # directly followed by its own assistant placeholder.
        for user, answer in zip(messages[::2], messages[1::2], strict=True):
            assert (user.role, answer.role, answer.id) == ("user", "assistant", user.id + 1)


def test_store_refuses_use_from_another_thread(tmp_path):
    with Store(tmp_path / "hearth.db") as store:
        worker = Worker(lambda: store.conversations.list())
        worker.start()
        with pytest.raises(sqlite3.ProgrammingError):
            worker.join_or_raise()


def test_open_waits_while_a_new_database_is_being_written(tmp_path):
    """Switching a fresh file to WAL must wait for a writer, not fail at once."""
    path = tmp_path / "fresh.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO unrelated VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with Store(path) as store:
            assert store.journal_mode == "wal"
            assert store.schema_version == latest_version()
    finally:
        release.join()
        other.close()


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_first_open_migrates_once(tmp_path, round_):
    """Several threads creating the same new database at once (first launch)."""
    path = tmp_path / "fresh.db"
    start = threading.Barrier(4)
    versions: list[int] = []

    def open_store() -> None:
        start.wait(TIMEOUT)
        with Store(path) as store:
            versions.append(store.schema_version)
            assert store.journal_mode == "wal"

    workers = [Worker(open_store) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join_or_raise()
    assert versions == [latest_version()] * 4
