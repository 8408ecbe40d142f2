"""Conversation CRUD, sidebar ordering and cascade delete."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from storage import Conversation, Store, utc_now


def test_create_and_get(store):
    chat = store.conversations.create()
    assert isinstance(chat, Conversation)
    assert chat.title == "New chat"
    assert chat.created_at == chat.updated_at
    stamp = datetime.fromisoformat(chat.created_at)
    assert stamp.tzinfo is not None and stamp.utcoffset() == timezone.utc.utcoffset(None)
    assert store.conversations.get(chat.id) == chat
    named = store.conversations.create("  Trip\n plans ")
    assert named.title == "Trip plans" and named.id != chat.id
    assert store.conversations.get(named.id).title == "Trip plans"
    assert store.conversations.get(12345) is None


def test_rows_are_frozen(store):
    chat = store.conversations.create()
    with pytest.raises(dataclasses.FrozenInstanceError):
        chat.title = "x"  # type: ignore[misc]


def test_list_most_recently_updated_first(store):
    a = store.conversations.create("A")
    b = store.conversations.create("B")
    c = store.conversations.create("C")
    assert [x.title for x in store.conversations.list()] == ["C", "B", "A"]
    store.messages.add(a.id, "user", "hello")
    assert [x.title for x in store.conversations.list()] == ["A", "C", "B"]
    store.conversations.touch(b.id)
    assert [x.title for x in store.conversations.list()] == ["B", "A", "C"]
    # Updating a message counts as activity too.
    message = store.messages.add(c.id, "user", "hi")
    store.messages.update(message.id, content="hi there")
    assert [x.title for x in store.conversations.list()] == ["C", "B", "A"]
    listed = store.conversations.list()
    assert listed[0].updated_at == store.messages.get(message.id).updated_at


def test_rename_keeps_order_and_validates(store):
    a = store.conversations.create("A")
    store.conversations.create("B")
    renamed = store.conversations.rename(a.id, "Renamed")
    assert renamed.title == "Renamed" and renamed.updated_at == a.updated_at
    assert store.conversations.get(a.id).title == "Renamed"
    assert [x.title for x in store.conversations.list()] == ["B", "Renamed"]
    with pytest.raises(ValueError):
        store.conversations.rename(a.id, "   ")
    with pytest.raises(ValueError):
        store.conversations.create("")
    with pytest.raises(TypeError):
        store.conversations.create(None)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        store.conversations.rename(999, "Nope")
    assert store.conversations.get(a.id).title == "Renamed"


def test_delete_cascades_to_messages(store):
    keep = store.conversations.create("keep")
    doomed = store.conversations.create("doomed")
    store.messages.add_turn(doomed.id, "question")
    kept_message = store.messages.add(keep.id, "user", "stay")
    assert len(store.messages.list_for(doomed.id)) == 2

    assert store.conversations.delete(doomed.id) is True
    assert store.conversations.get(doomed.id) is None
    assert store.messages.list_for(doomed.id) == []
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    assert store.messages.list_for(keep.id) == [kept_message]
    assert store.conversations.delete(doomed.id) is False
    assert [c.title for c in store.conversations.list()] == ["keep"]


def test_ids_are_not_reused(store):
    first = store.conversations.create("first")
    store.conversations.delete(first.id)
    assert store.conversations.create("second").id != first.id


def test_visible_from_a_second_store(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as writer, Store(path) as reader:
        chat = writer.conversations.create("shared")
        assert reader.conversations.get(chat.id) == chat
        writer.conversations.rename(chat.id, "renamed")
        assert reader.conversations.list()[0].title == "renamed"


def test_pinned_first_then_most_recent(store):
    a = store.conversations.create("A")
    b = store.conversations.create("B")
    c = store.conversations.create("C")
    pinned = store.conversations.set_pinned(a.id, True)
    assert pinned.pinned is True and pinned.updated_at == a.updated_at
    assert [x.title for x in store.conversations.list()] == ["A", "C", "B"]
    store.conversations.set_pinned(b.id, True)
    assert [x.title for x in store.conversations.list()] == ["B", "A", "C"]
    store.messages.add(a.id, "user", "activity")
    store.messages.add(c.id, "user", "activity")
    assert [x.title for x in store.conversations.list()] == ["A", "B", "C"]
    assert store.conversations.set_pinned(a.id, False).pinned is False
    assert [x.title for x in store.conversations.list()] == ["B", "C", "A"]
    assert store.conversations.get(b.id).pinned is True
    with pytest.raises(KeyError):
        store.conversations.set_pinned(999, True)
    with pytest.raises(TypeError):
        store.conversations.set_pinned(a.id, 1)  # type: ignore[arg-type]


def test_trash_restore_and_purge(store):
    store.conversations.create("keep")
    old = store.conversations.create("old")
    recent = store.conversations.create("recent")
    store.messages.add_turn(old.id, "old question")
    store.conversations.set_pinned(recent.id, True)

    assert store.conversations.trash(old.id) is True
    assert store.conversations.trash(old.id) is False  # already there
    assert store.conversations.trash(999) is False
    cutoff = utc_now()
    assert store.conversations.trash(recent.id) is True
    assert [c.title for c in store.conversations.list()] == ["keep"]
    assert [c.title for c in store.conversations.list_trash()] == ["recent", "old"]
    trashed = store.conversations.get(old.id)
    assert trashed.deleted_at is not None and trashed.deleted_at < cutoff
    assert len(store.messages.list_for(old.id)) == 2  # messages wait in the trash too

    assert store.conversations.restore(recent.id) is True
    assert store.conversations.restore(recent.id) is False
    assert [c.title for c in store.conversations.list()] == ["recent", "keep"]  # still pinned
    assert store.conversations.get(recent.id).deleted_at is None

    store.conversations.trash(recent.id)
    assert store.conversations.purge_trash(cutoff) == 1
    assert store.conversations.get(old.id) is None and store.messages.list_for(old.id) == []
    assert [c.title for c in store.conversations.list_trash()] == ["recent"]
    assert store.conversations.purge_trash(cutoff) == 0
    with pytest.raises(TypeError):
        store.conversations.purge_trash(None)  # type: ignore[arg-type]


def test_new_fields_of_a_fresh_conversation(store):
    chat = store.conversations.create()
    assert (chat.current_leaf_id, chat.pinned, chat.deleted_at) == (None, False, None)
    assert store.conversations.get(chat.id) == chat
    _, answer = store.messages.add_turn(chat.id, "hi")
    assert store.conversations.get(chat.id).current_leaf_id == answer.id
