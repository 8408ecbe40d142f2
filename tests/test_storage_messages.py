"""Messages: add/update/list, validation, transactions, crash recovery."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from storage import INTERRUPTED_ERROR, Message, Store


@pytest.fixture
def chat(store):
    return store.conversations.create("chat")


def count_messages(store) -> int:
    return store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


def test_add_defaults_and_get(store, chat):
    msg = store.messages.add(chat.id, "user", "Hello")
    assert isinstance(msg, Message)
    assert (msg.role, msg.content, msg.reasoning, msg.status) == ("user", "Hello", "", "complete")
    assert (msg.effort, msg.model_name, msg.model_sha256, msg.error) == (None, None, None, None)
    assert msg.stats == {} and msg.created_at == msg.updated_at
    assert store.messages.get(msg.id) == msg
    assert store.messages.get(msg.id + 100) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.content = "x"  # type: ignore[misc]
    hash(msg)  # usable in sets despite the stats dict


def test_add_all_fields(store, chat):
    msg = store.messages.add(
        chat.id, "assistant", "Answer", reasoning="Because", status="streaming",
        effort="high", model_name="gpt-oss-20b", model_sha256="ab" * 32,
    )
    assert store.messages.get(msg.id) == msg
    assert msg.effort == "high" and msg.model_name == "gpt-oss-20b"
    assert msg.model_sha256 == "ab" * 32 and msg.status == "streaming"


def test_add_can_record_a_message_as_it_was(store, chat):
    """For imports: the original stats, error and creation time."""
    then = "2024-05-01T10:00:00.000000+00:00"
    msg = store.messages.add(chat.id, "assistant", "partial", status="failed",
                             stats={"ttft": 0.5}, error="out of memory", created_at=then)
    assert (msg.stats, msg.error, msg.created_at, msg.updated_at) == (
        {"ttft": 0.5}, "out of memory", then, then)
    assert store.messages.get(msg.id) == msg
    assert store.conversations.get(chat.id).updated_at > then  # the import is new activity
    with pytest.raises(TypeError):
        store.messages.add(chat.id, "user", "x", stats=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.messages.add(chat.id, "user", "x", created_at=1)  # type: ignore[arg-type]
    old = store.conversations.create("old", created_at=then)
    assert old.created_at == then and old.updated_at > then
    assert store.conversations.get(old.id) == old
    assert count_messages(store) == 1


def test_list_for_in_order_and_per_conversation(store, chat):
    other = store.conversations.create("other")
    ids = [store.messages.add(chat.id, role, f"m{i}").id
           for i, role in enumerate(["system", "user", "assistant", "tool", "user"])]
    store.messages.add(other.id, "user", "elsewhere")
    listed = store.messages.list_for(chat.id)
    assert [m.id for m in listed] == ids
    assert [m.content for m in listed] == ["m0", "m1", "m2", "m3", "m4"]
    assert [m.content for m in store.messages.list_for(other.id)] == ["elsewhere"]
    assert store.messages.list_for(9999) == []


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"role": "robot"}, "role"),
        ({"role": "User"}, "role"),
        ({"status": "done"}, "status"),
        ({"effort": "extreme"}, "effort"),
        ({"effort": ""}, "effort"),
    ],
)
def test_add_validates_values(store, chat, kwargs, field):
    args = {"role": "assistant", **kwargs}
    role = args.pop("role")
    with pytest.raises(ValueError, match=field):
        store.messages.add(chat.id, role, "x", **args)
    assert count_messages(store) == 0


def test_add_rejects_unknown_conversation_and_non_text(store, chat):
    with pytest.raises(sqlite3.IntegrityError):
        store.messages.add(chat.id + 1, "user", "orphan")
    with pytest.raises(TypeError):
        store.messages.add(chat.id, "user", None)  # type: ignore[arg-type]
    assert count_messages(store) == 0


def test_update_changes_only_given_fields(store, chat):
    msg = store.messages.add(
        chat.id, "assistant", "", status="streaming", effort="medium",
        model_name="m", model_sha256="cd" * 32,
    )
    step1 = store.messages.update(msg.id, reasoning="thinking")
    assert (step1.reasoning, step1.content, step1.status) == ("thinking", "", "streaming")
    step2 = store.messages.update(msg.id, content="The answer")
    assert (step2.reasoning, step2.content) == ("thinking", "The answer")
    stats = {"prompt_tokens": 12, "cached_tokens": 4, "generated_tokens": 30, "ttft": 0.25,
             "tokens_per_s": 41.5, "finish_reason": "stop", "reasoning_s": 1.5}
    step3 = store.messages.update(msg.id, status="complete", stats=stats)
    assert step3.stats == stats and step3.content == "The answer"
    assert step3.reasoning == "thinking" and step3.error is None
    assert (step3.effort, step3.model_name, step3.model_sha256) == ("medium", "m", "cd" * 32)
    assert step3.created_at == msg.created_at
    assert msg.updated_at < step1.updated_at < step2.updated_at < step3.updated_at
    assert store.messages.get(msg.id) == step3
    # A no-op update still only bumps updated_at.
    step4 = store.messages.update(msg.id)
    assert dataclasses.replace(step4, updated_at=step3.updated_at) == step3


def test_update_error_set_and_clear(store, chat):
    msg = store.messages.add(chat.id, "assistant", "partial", status="streaming")
    failed = store.messages.update(msg.id, status="failed", error="out of memory")
    assert (failed.status, failed.error, failed.content) == ("failed", "out of memory", "partial")
    assert store.messages.update(msg.id, content="partial!").error == "out of memory"
    assert store.messages.update(msg.id, error="").error is None


def test_update_validates(store, chat):
    msg = store.messages.add(chat.id, "assistant", "keep")
    with pytest.raises(ValueError, match="status"):
        store.messages.update(msg.id, content="clobbered?", status="bogus")
    with pytest.raises(TypeError):
        store.messages.update(msg.id, stats=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.messages.update(msg.id, stats={"ttft": float("nan")})
    with pytest.raises(KeyError):
        store.messages.update(msg.id + 1, content="nobody")
    assert store.messages.get(msg.id) == msg


def test_add_turn_creates_user_and_placeholder(store, chat):
    user, answer = store.messages.add_turn(
        chat.id, "Why is the sky blue?", effort="low", model_name="gpt-oss-20b",
        model_sha256="ef" * 32,
    )
    assert (user.role, user.content, user.status) == ("user", "Why is the sky blue?", "complete")
    assert user.effort is None and user.model_name is None
    assert (answer.role, answer.content, answer.status) == ("assistant", "", "streaming")
    assert (answer.effort, answer.model_name) == ("low", "gpt-oss-20b")
    assert store.messages.list_for(chat.id) == [user, answer]


def test_add_turn_is_atomic(store, chat):
    with pytest.raises(ValueError, match="effort"):
        store.messages.add_turn(chat.id, "question", effort="max")
    assert count_messages(store) == 0
    # The user row is inserted first, then the FK failure undoes it.
    with pytest.raises(sqlite3.IntegrityError):
        store.messages.add_turn(chat.id + 7, "question")
    assert count_messages(store) == 0
    assert not store.conn.in_transaction


def test_transaction_commits_or_rolls_back_together(store, chat):
    with store.transaction():
        store.messages.add(chat.id, "user", "one")
        store.messages.add(chat.id, "assistant", "two")
    assert count_messages(store) == 2

    with pytest.raises(RuntimeError):
        with store.transaction():
            store.messages.add(chat.id, "user", "three")
            raise RuntimeError("abort")
    assert count_messages(store) == 2

    with store.transaction():
        store.messages.add(chat.id, "user", "four")
        try:
            with store.transaction():  # nested: a savepoint
                store.messages.add(chat.id, "user", "five")
                raise RuntimeError("inner only")
        except RuntimeError:
            pass
    assert [m.content for m in store.messages.list_for(chat.id)] == ["one", "two", "four"]
    assert not store.conn.in_transaction


def test_uncommitted_writes_invisible_to_other_store(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as writer, Store(path) as reader:
        chat = writer.conversations.create()
        with writer.transaction():
            user, _ = writer.messages.add_turn(chat.id, "pending")
            assert reader.messages.list_for(chat.id) == []
        assert [m.content for m in reader.messages.list_for(chat.id)] == ["pending", ""]


def test_mark_interrupted_keeps_partial_content(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as store:
        chat = store.conversations.create()
        user, answer = store.messages.add_turn(chat.id, "Tell me a story")
        store.messages.update(answer.id, content="Once upon a", reasoning="plan: a story")
        done = store.messages.add(chat.id, "assistant", "Finished", status="complete")
        cancelled = store.messages.add(chat.id, "assistant", "Stopp", status="cancelled")
        before = store.conversations.get(chat.id)
        # The app is killed here: nothing finalises the streaming answer.
    with Store(path) as store:
        assert store.messages.mark_interrupted() == 1
        fixed = store.messages.get(answer.id)
        assert (fixed.status, fixed.error) == ("failed", INTERRUPTED_ERROR)
        assert (fixed.content, fixed.reasoning) == ("Once upon a", "plan: a story")
        assert store.messages.get(done.id).status == "complete"
        assert store.messages.get(cancelled.id).status == "cancelled"
        assert store.messages.get(user.id) == user
        assert store.conversations.get(chat.id) == before  # sidebar order unchanged
        assert store.messages.mark_interrupted() == 0
