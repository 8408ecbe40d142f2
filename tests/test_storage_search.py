"""FTS5 search: kept in sync by triggers, safe against any user input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import HIGHLIGHT_END, HIGHLIGHT_START, SearchHit, Store, match_expression


def ids(hits: list[SearchHit]) -> list[int]:
    return [h.message_id for h in hits]


def assert_index_consistent(store: Store) -> None:
    """FTS5's own check that the index matches its content (rank=1: compare text)."""
    store.db.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


def test_finds_content_and_reasoning(store):
    chat = store.conversations.create("Astronomy")
    a = store.messages.add(chat.id, "user", "Why is the sky blue?")
    b = store.messages.add(chat.id, "assistant", "Rayleigh scattering.", reasoning="Think optics")
    hit = store.search("sky")
    assert hit == [SearchHit(a.id, chat.id, "Astronomy", f"Why is the {HIGHLIGHT_START}sky"
                             f"{HIGHLIGHT_END} blue?", "user", a.created_at, True)]
    assert (store.search("optics")[0].role, store.search("optics")[0].created_at) == (
        "assistant", b.created_at)
    assert ids(store.search("optics")) == [b.id]
    assert ids(store.search("scatter")) == [b.id]  # prefix match
    assert ids(store.search("RAYLEIGH")) == [b.id]  # case-insensitive
    assert store.search("nebula") == []


def test_all_terms_must_match(store):
    chat = store.conversations.create()
    a = store.messages.add(chat.id, "user", "red apple")
    b = store.messages.add(chat.id, "user", "green apple")
    assert sorted(ids(store.search("apple"))) == [a.id, b.id]
    assert ids(store.search("apple green")) == [b.id]


def test_diacritics_are_folded(store):
    chat = store.conversations.create()
    msg = store.messages.add(chat.id, "user", "Un café crème")
    assert ids(store.search("cafe creme")) == [msg.id]
    assert ids(store.search("CAFÉ")) == [msg.id]


def test_finds_text_after_updates_and_forgets_old_text(store):
    chat = store.conversations.create()
    msg = store.messages.add(chat.id, "assistant", "first draft")
    store.messages.update(msg.id, content="second version")
    assert store.search("draft") == []
    assert ids(store.search("second")) == [msg.id]
    store.messages.update(msg.id, reasoning="hidden musing")
    assert ids(store.search("musing")) == [msg.id]
    assert ids(store.search("second")) == [msg.id]
    store.messages.update(msg.id, stats={"ttft": 1.0})  # not an indexed column
    assert ids(store.search("second musing")) == [msg.id]
    assert_index_consistent(store)


def test_streaming_answer_indexed_once_finished(store):
    chat = store.conversations.create()
    _, answer = store.messages.add_turn(chat.id, "count")
    text = ""
    for i in range(200):
        text += f" token{i}"
        store.messages.update(answer.id, content=text, reasoning=f"step{i}")
        if i % 50 == 0:
            assert_index_consistent(store)
    assert store.search("token199") == []  # still streaming: not searchable yet
    store.messages.update(answer.id, status="complete")
    assert ids(store.search("token0")) == [answer.id]
    assert ids(store.search("token199 step199")) == [answer.id]
    assert store.search("step198") == []
    assert_index_consistent(store)
    # Retrying an answer (back to streaming) takes it out of the index again.
    store.messages.update(answer.id, status="streaming", content="")
    assert store.search("token0") == []
    store.messages.update(answer.id, status="cancelled", content="short")
    assert ids(store.search("short")) == [answer.id]
    assert_index_consistent(store)


def test_interrupted_answer_becomes_searchable(store):
    chat = store.conversations.create()
    _, answer = store.messages.add_turn(chat.id, "q")
    store.messages.update(answer.id, content="partial photosynthesis")
    store.messages.mark_interrupted()
    assert ids(store.search("photosynthesis")) == [answer.id]
    assert_index_consistent(store)


def test_forgets_deleted_messages(store):
    keep = store.conversations.create("keep")
    doomed = store.conversations.create("doomed")
    kept = store.messages.add(keep.id, "user", "zebra kept")
    store.messages.add(doomed.id, "user", "zebra gone")
    store.messages.add(doomed.id, "user", "zebra reply")
    store.messages.add_turn(doomed.id, "zebra question")  # + streaming placeholder
    # A hard delete takes the descendants along (parent_id cascades): 'reply', 'question'.
    store.db.execute("DELETE FROM messages WHERE content = 'zebra reply'")
    assert len(store.search("zebra")) == 2
    store.conversations.delete(doomed.id)
    assert store.search("zebra") == [
        SearchHit(kept.id, keep.id, "keep", f"{HIGHLIGHT_START}zebra{HIGHLIGHT_END} kept",
                  "user", kept.created_at, True)
    ]
    assert store.search("gone") == [] and store.search("question") == []
    assert store.db.execute("SELECT COUNT(*) FROM messages_fts").fetchone()[0] == 1
    assert_index_consistent(store)


def test_soft_deleted_messages_and_trashed_chats_are_not_found(store):
    chat = store.conversations.create("chat")
    other = store.conversations.create("other")
    question = store.messages.add(chat.id, "user", "llama question")
    answer = store.messages.add(chat.id, "assistant", "llama answer")
    elsewhere = store.messages.add(other.id, "user", "llama elsewhere")
    assert sorted(ids(store.search("llama"))) == [question.id, answer.id, elsewhere.id]

    deleted = store.messages.delete(answer.id)
    assert sorted(ids(store.search("llama"))) == [question.id, elsewhere.id]
    store.messages.restore(deleted)
    assert ids(store.search("llama answer")) == [answer.id]

    store.conversations.trash(other.id)
    assert sorted(ids(store.search("llama"))) == [question.id, answer.id]
    store.conversations.restore(other.id)
    assert ids(store.search("elsewhere")) == [elsewhere.id]

    store.messages.delete(question.id)  # with its answer
    store.messages.purge_deleted("9999")
    assert ids(store.search("llama")) == [elsewhere.id]
    assert_index_consistent(store)


def test_hits_on_other_branches_say_so(store):
    chat = store.conversations.create()
    user, first = store.messages.add_turn(chat.id, "puffin facts")
    store.messages.update(first.id, content="puffins dive", status="complete")
    second = store.messages.add_reply(user.id)
    store.messages.update(second.id, content="puffins fly", status="complete")
    other = store.conversations.create()
    elsewhere = store.messages.add(other.id, "user", "puffins swim")

    branch = {h.message_id: h.on_current_branch for h in store.search("puffin")}
    assert branch == {user.id: True, first.id: False, second.id: True, elsewhere.id: True}
    store.conversations.switch_branch(chat.id, first.id)
    branch = {h.message_id: h.on_current_branch for h in store.search("puffin")}
    assert branch == {user.id: True, first.id: True, second.id: False, elsewhere.id: True}


def test_conversation_title_follows_rename(store):
    chat = store.conversations.create("before")
    store.messages.add(chat.id, "user", "walrus")
    store.conversations.rename(chat.id, "after")
    assert [h.conversation_title for h in store.search("walrus")] == ["after"]


def test_limit_and_ranking(store):
    chat = store.conversations.create()
    for i in range(10):
        store.messages.add(chat.id, "user", f"otter {i}")
    assert len(store.search("otter")) == 10
    assert len(store.search("otter", limit=3)) == 3
    assert store.search("otter", limit=0) == []
    content = store.messages.add(chat.id, "assistant", "kestrel", reasoning="x")
    reasoning = store.messages.add(chat.id, "assistant", "x", reasoning="kestrel")
    assert ids(store.search("kestrel")) == [content.id, reasoning.id]


def test_snippet_helpers(store):
    chat = store.conversations.create()
    store.messages.add(chat.id, "user", "use <b> & heron tags")
    hit = store.search("heron")[0]
    assert hit.snippet_text == "use <b> & heron tags"
    assert hit.snippet_html() == "use &lt;b&gt; &amp; <b>heron</b> tags"
    assert hit.snippet_html("mark") == "use &lt;b&gt; &amp; <mark>heron</mark> tags"


def test_match_expression_quotes_every_term():
    assert match_expression('foo"') == '"foo"""*'
    assert match_expression("  a:b   AND  ") == '"a:b"* "AND"*'
    assert match_expression("") == "" and match_expression(" \t\n") == ""


WEIRD_QUERIES = [
    'foo"', '"', '""', "AND", "OR", "NOT", "NEAR", "*", "a:b", "", "   ", "(", ")", "^",
    "-", "+", "foo AND", "OR bar", "NEAR(a b)", "content:foo", "reasoning:", "{content}: x",
    "'", "\\", "%", "_", "a*b", "\x00", "\ud800", "😀", "a\x00b", "col:*", '"unbalanced',
]


@pytest.mark.parametrize("query", WEIRD_QUERIES)
def test_weird_input_never_raises(store, query):
    chat = store.conversations.create()
    store.messages.add(chat.id, "user", 'foo AND bar "quoted" a:b NEAR 😀 content')
    assert isinstance(store.search(query), list)


def test_syntax_characters_are_matched_literally(store):
    chat = store.conversations.create()
    msg = store.messages.add(chat.id, "user", "use foo AND bar, NOT baz")
    assert ids(store.search("AND")) == [msg.id]
    assert ids(store.search("NOT baz")) == [msg.id]
    assert ids(store.search('foo"')) == [msg.id]
    assert ids(store.search("bar,")) == [msg.id]
    assert store.search("OR") == []  # a literal word, not an operator


def test_fuzzed_queries_never_raise(tmp_path):
    with Store(tmp_path / "hearth.db") as store:
        chat = store.conversations.create()
        store.messages.add(chat.id, "user", "alpha beta gamma 'quote' \"dq\" x:y (paren) *")

        @settings(max_examples=300, deadline=None)
        @given(st.text(max_size=40))
        def check(query):
            assert isinstance(store.search(query), list)

        check()


def test_snippets_are_cut_around_the_first_match_with_every_match_marked():
    from storage.search import ELLIPSIS, HIGHLIGHT_END, HIGHLIGHT_START, make_snippet

    text = " ".join(f"w{i}" for i in range(40)) + " Café au lait, café noir. " + \
        " ".join(f"x{i}" for i in range(40))
    snippet = make_snippet(text, ["cafe"], width=12)
    assert snippet.startswith(ELLIPSIS) and snippet.endswith(ELLIPSIS)
    assert f"{HIGHLIGHT_START}Café{HIGHLIGHT_END}" in snippet
    assert f"{HIGHLIGHT_START}café{HIGHLIGHT_END}" in snippet
    assert make_snippet("short text", ["zzz"]) == "short text"
