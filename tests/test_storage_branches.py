"""Branches: regenerate, edit and resend, switching, soft delete with undo, purge."""

from __future__ import annotations

import pytest

from storage import utc_now


@pytest.fixture
def chat(store):
    return store.conversations.create("chat")


def ids(messages) -> list[int]:
    return [m.id for m in messages]


def leaf(store, chat) -> int | None:
    return store.conversations.get(chat.id).current_leaf_id


def answered(store, chat, text, **kwargs):
    """A finished turn: (user, assistant)."""
    user, answer = store.messages.add_turn(chat.id, text, **kwargs)
    return user, store.messages.update(answer.id, content=f"re: {text}", status="complete")


def test_add_continues_the_current_branch(store, chat):
    assert leaf(store, chat) is None and store.messages.thread(chat.id) == []
    system = store.messages.add(chat.id, "system", "be brief")
    assert system.parent_id is None and leaf(store, chat) == system.id
    user, answer = store.messages.add_turn(chat.id, "hi", effort="low")
    assert (user.parent_id, answer.parent_id) == (system.id, user.id)
    assert leaf(store, chat) == answer.id
    assert store.messages.thread(chat.id) == [system, user, answer]
    root = store.messages.add(chat.id, "user", "fresh start", parent_id=None)
    assert root.parent_id is None and store.messages.thread(chat.id) == [root]
    assert store.messages.list_for(chat.id) == [system, user, answer, root]


def test_regenerate_keeps_the_old_answer_as_a_branch(store, chat):
    user, first = answered(store, chat, "why?")
    second = store.messages.add_reply(user.id, effort="high", model_name="m",
                                      model_sha256="ab" * 32)
    assert (second.role, second.status, second.content) == ("assistant", "streaming", "")
    assert (second.parent_id, second.effort, second.model_name) == (user.id, "high", "m")
    assert store.messages.thread(chat.id) == [user, second]
    assert store.messages.siblings(second.id) == [first, second]
    assert store.messages.siblings(first.id) == [first, second]
    assert store.messages.siblings(user.id) == [user]

    assert store.conversations.switch_branch(chat.id, first.id) == first.id
    assert store.messages.thread(chat.id) == [user, first]
    assert ids(store.messages.list_for(chat.id)) == [user.id, first.id, second.id]
    # A later regenerate is the third sibling, shown at once.
    third = store.messages.add_reply(user.id)
    assert ids(store.messages.siblings(first.id)) == [first.id, second.id, third.id]
    assert store.messages.thread(chat.id) == [user, third]


def test_edit_and_resend_makes_sibling_prompts_with_their_own_answers(store, chat):
    system = store.messages.add(chat.id, "system", "rules")
    old_user, old_answer = answered(store, chat, "tell me about owls")
    new_user, new_answer = store.messages.add_turn(
        chat.id, "tell me about owls, briefly", parent_id=old_user.parent_id)
    assert new_user.parent_id == system.id and new_answer.parent_id == new_user.id
    assert store.messages.thread(chat.id) == [system, new_user, new_answer]
    assert ids(store.messages.siblings(new_user.id)) == [old_user.id, new_user.id]
    store.conversations.switch_branch(chat.id, old_user.id)
    assert store.messages.thread(chat.id) == [system, old_user, old_answer]

    # Editing the very first message: sibling roots.
    first = store.conversations.create("first")
    u1, a1 = answered(store, first, "v1")
    u2, a2 = answered(store, first, "v2", parent_id=None)
    assert ids(store.messages.siblings(u1.id)) == [u1.id, u2.id]
    assert ids(store.messages.thread(first.id)) == [u2.id, a2.id]
    store.conversations.switch_branch(first.id, u1.id)
    assert ids(store.messages.thread(first.id)) == [u1.id, a1.id]
    assert store.messages.siblings(9999) == []


def test_switching_an_early_branch_opens_its_newest_descendant(store, chat):
    u1, a1 = answered(store, chat, "one")
    u2, a2 = answered(store, chat, "two")
    u3, a3 = answered(store, chat, "three")
    a1b = store.messages.add_reply(u1.id)
    u4, a4 = answered(store, chat, "four")  # continues a1b's branch
    assert ids(store.messages.thread(chat.id)) == [u1.id, a1b.id, u4.id, a4.id]

    assert store.conversations.switch_branch(chat.id, a1.id) == a3.id
    assert ids(store.messages.thread(chat.id)) == [u1.id, a1.id, u2.id, a2.id, u3.id, a3.id]
    a2b = store.messages.add_reply(u2.id)
    assert store.conversations.switch_branch(chat.id, a1b.id) == a4.id
    # From the root: newest child of u1 is a1b.
    assert store.conversations.switch_branch(chat.id, u1.id) == a4.id
    # Through a1 the newest child of u2 is now a2b, not a2.
    assert store.conversations.switch_branch(chat.id, a1.id) == a2b.id
    assert ids(store.messages.thread(chat.id)) == [u1.id, a1.id, u2.id, a2b.id]
    # A message in the middle of a branch: that branch up to its end.
    assert store.conversations.switch_branch(chat.id, u3.id) == a3.id


def test_branch_calls_validate_and_change_nothing_on_error(store, chat):
    other = store.conversations.create("other")
    user, answer = answered(store, chat, "q")
    foreign = store.messages.add(other.id, "user", "not yours")
    before = store.messages.list_for(chat.id), store.conversations.get(chat.id)
    with pytest.raises(ValueError, match="not a visible message"):
        store.messages.add(chat.id, "assistant", "x", parent_id=foreign.id)
    with pytest.raises(ValueError, match="not a visible message"):
        store.messages.add_turn(chat.id, "x", parent_id=12345)
    with pytest.raises(ValueError, match="not a user message"):
        store.messages.add_reply(answer.id)
    with pytest.raises(KeyError):
        store.messages.add_reply(12345)
    with pytest.raises(ValueError, match="not a visible message"):
        store.conversations.switch_branch(chat.id, foreign.id)
    with pytest.raises(ValueError, match="effort"):
        store.messages.add_reply(user.id, effort="max")
    assert (store.messages.list_for(chat.id), store.conversations.get(chat.id)) == before
    assert not store.conn.in_transaction


def test_delete_and_undo_at_the_end_of_a_branch(store, chat):
    u1, a1 = answered(store, chat, "one")
    u2, a2 = answered(store, chat, "two")
    deleted = store.messages.delete(u2.id)
    assert deleted == [u2.id, a2.id]
    assert store.messages.get(u2.id).deleted_at is not None
    assert leaf(store, chat) == a1.id  # no sibling left: back to the parent
    assert store.messages.thread(chat.id) == [u1, a1]
    assert store.messages.list_for(chat.id) == [u1, a1]
    assert store.messages.delete(u2.id) == []  # already gone

    store.messages.restore(deleted)
    assert store.messages.thread(chat.id) == [u1, a1, u2, a2]  # leaf put back
    assert store.messages.get(a2.id) == a2
    store.messages.restore(deleted)  # idempotent
    assert store.messages.thread(chat.id) == [u1, a1, u2, a2]


def test_deleting_the_shown_answer_moves_to_a_sibling(store, chat):
    user, first = answered(store, chat, "q")
    second = store.messages.add_reply(user.id)
    _, reply = answered(store, chat, "more")  # under second
    store.conversations.switch_branch(chat.id, first.id)
    later, later_answer = answered(store, chat, "deeper")  # under first
    third = store.messages.add_reply(user.id)
    # Shown: user → third.  Deleting it shows the newest remaining sibling's newest branch.
    assert store.messages.delete(third.id) == [third.id]
    assert leaf(store, chat) == reply.id
    assert ids(store.messages.siblings(first.id)) == [first.id, second.id]
    # The leaf is not the deleted message's parent, so undo leaves the view alone...
    store.messages.restore([third.id])
    assert leaf(store, chat) == reply.id
    assert ids(store.messages.siblings(first.id)) == [first.id, second.id, third.id]
    # ...and deleting a branch that is not shown does not move it either.
    assert store.messages.delete(first.id) == [first.id, later.id, later_answer.id]
    assert leaf(store, chat) == reply.id


def test_delete_everything_and_undo(store, chat):
    user, answer = answered(store, chat, "only")
    deleted = store.messages.delete(user.id)
    assert deleted == [user.id, answer.id]
    assert leaf(store, chat) is None and store.messages.thread(chat.id) == []
    store.messages.restore(deleted)
    assert store.messages.thread(chat.id) == [user, answer]


def test_undo_is_exact_about_earlier_deletes(store, chat):
    user, first = answered(store, chat, "q")
    second = store.messages.add_reply(user.id)
    earlier = store.messages.delete(second.id)
    later = store.messages.delete(user.id)
    assert later == [user.id, first.id]  # second was already deleted
    store.messages.restore(later)
    assert store.messages.thread(chat.id) == [user, first]
    assert store.messages.get(second.id).deleted_at is not None
    store.messages.restore(earlier)
    assert store.messages.siblings(first.id) == [first, store.messages.get(second.id)]


def test_restore_refuses_orphans_and_mixed_conversations(store, chat):
    u1, a1 = answered(store, chat, "one")
    u2, a2 = answered(store, chat, "two")
    store.messages.delete(u2.id)
    with pytest.raises(ValueError, match="parent is deleted"):
        store.messages.restore([a2.id])
    assert store.messages.get(a2.id).deleted_at is not None
    other = store.conversations.create("other")
    elsewhere = store.messages.add(other.id, "user", "x")
    store.messages.delete(elsewhere.id)
    with pytest.raises(ValueError, match="one conversation"):
        store.messages.restore([u2.id, a2.id, elsewhere.id])
    with pytest.raises(KeyError):
        store.messages.restore([u2.id, 12345])
    assert store.messages.thread(chat.id) == [u1, a1]
    with pytest.raises(KeyError):
        store.messages.delete(12345)
    # A deleted message cannot be built on, regenerated or switched to.
    with pytest.raises(ValueError):
        store.messages.add(chat.id, "user", "x", parent_id=a2.id)
    with pytest.raises(ValueError):
        store.messages.add_reply(u2.id)
    with pytest.raises(ValueError):
        store.conversations.switch_branch(chat.id, u2.id)
    assert not store.conn.in_transaction


def test_purge_deleted_removes_only_old_deletions(store, chat):
    u1, a1 = answered(store, chat, "old news")
    u2, a2 = answered(store, chat, "recent news")
    keep = store.messages.add_reply(u1.id)
    old = store.messages.delete(u2.id)
    cutoff = utc_now()
    recent = store.messages.delete(keep.id)
    assert store.messages.purge_deleted(cutoff) == len(old) == 2
    assert store.messages.get(u2.id) is None and store.messages.get(a2.id) is None
    store.messages.restore(recent)  # still undoable
    assert ids(store.messages.siblings(keep.id)) == [a1.id, keep.id]
    assert store.messages.purge_deleted(utc_now()) == 0
    assert sorted(h.message_id for h in store.search("news")) == [u1.id, a1.id]
    store.db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
    with pytest.raises(TypeError):
        store.messages.purge_deleted(None)  # type: ignore[arg-type]


def test_deleting_a_streaming_answer_keeps_saving_harmless(store, chat):
    user, answer = store.messages.add_turn(chat.id, "go")
    store.messages.delete(answer.id)
    # The inference thread may still write its last tokens: they land, unseen.
    store.messages.update(answer.id, content="late", status="cancelled")
    assert store.messages.thread(chat.id) == [user]
    assert store.messages.mark_interrupted() == 0
