"""Export to Markdown, HTML and JSON; JSON import with strict validation."""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from app.core.export import (
    FORMAT,
    ConversationImportError,
    dumps,
    export_html,
    export_json,
    export_markdown,
    import_json,
)
from storage import INTERRUPTED_ERROR

STATS = {"prompt_tokens": 12, "generated_tokens": 30, "ttft": 0.25, "finish_reason": "stop"}


@pytest.fixture
def chat(store):
    """A conversation with branches: a regenerated answer, an edited prompt, a follow-up,
    a deleted answer, and a failed one.  Shows: edited prompt → its answer → follow-up."""
    chat = store.conversations.create("Owls & <b>bats</b>")
    user, first = store.messages.add_turn(chat.id, "Tell me about <script>alert(1)</script> owls",
                                          effort="high", model_name="gpt-oss-20b",
                                          model_sha256="ab" * 32)
    store.messages.update(first.id, content="Owls are **nocturnal**.", reasoning="Recall <i>birds</i>",
                          status="complete", stats=STATS)
    retry = store.messages.add_reply(user.id, effort="low", model_name="gpt-oss-20b")
    store.messages.update(retry.id, content="partial owl", status="failed", error="out of memory")
    gone = store.messages.add_reply(user.id)
    store.messages.update(gone.id, content="deleted words", status="complete")
    store.messages.delete(gone.id)
    _, answer = store.messages.add_turn(chat.id, "Owls, briefly", parent_id=None)
    store.messages.update(answer.id, content="Silent hunters.", status="complete")
    store.messages.add_turn(chat.id, "And bats?")  # answer still streaming
    store.conversations.set_pinned(chat.id, True)
    return store.conversations.get(chat.id)


class Tags(HTMLParser):
    """Every tag name and attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.names.add(tag)
        self.attributes.extend(attrs)


def database_state(store) -> list:
    return [store.db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("conversations", "messages", "messages_fts")]


def by_position(document: dict) -> dict:
    """The document with file ids replaced by positions, to compare across imports."""
    position = {m["id"]: i for i, m in enumerate(document["messages"])}
    messages = [{**m, "id": position[m["id"]],
                 "parent_id": None if m["parent_id"] is None else position[m["parent_id"]]}
                for m in document["messages"]]
    return {**document, "messages": messages,
            "current_leaf_id": position.get(document["current_leaf_id"])}


# --- JSON round trip ------------------------------------------------------------------------

def test_export_json_holds_every_branch(store, chat):
    document = export_json(store, chat.id)
    assert (document["format"], document["version"]) == (FORMAT, 1)
    assert (document["title"], document["created_at"], document["pinned"]) == (
        chat.title, chat.created_at, True)
    assert document["current_leaf_id"] == chat.current_leaf_id
    contents = [m["content"] for m in document["messages"]]
    assert "Owls are **nocturnal**." in contents and "partial owl" in contents
    assert "deleted words" not in contents  # soft-deleted: not exported
    first = next(m for m in document["messages"] if m["content"] == "Owls are **nocturnal**.")
    assert first["stats"] == STATS and first["reasoning"] == "Recall <i>birds</i>"
    assert set(first) == {"id", "parent_id", "role", "content", "reasoning", "status", "effort",
                          "model_name", "model_sha256", "stats", "error", "created_at"}
    assert json.loads(dumps(document)) == document


@pytest.mark.parametrize("form", ["dict", "str", "bytes"])
def test_round_trip_keeps_thread_branches_and_fields(store, chat, form):
    document = export_json(store, chat.id)
    data = {"dict": document, "str": dumps(document),
            "bytes": dumps(document).encode("utf-8")}[form]
    new_id = import_json(store, data)
    assert new_id != chat.id
    imported = store.conversations.get(new_id)
    assert (imported.title, imported.created_at, imported.pinned) == (
        chat.title, chat.created_at, True)

    again = export_json(store, new_id)
    assert {m["id"] for m in again["messages"]}.isdisjoint(
        {m["id"] for m in document["messages"]})  # ids remapped
    # The streaming answer arrives as interrupted; everything else is as it was.
    expected = copy.deepcopy(by_position(document))
    streaming = expected["messages"][-1]
    assert streaming["status"] == "streaming"
    streaming.update(status="failed", error=INTERRUPTED_ERROR)
    assert by_position(again) == expected

    old_thread, new_thread = store.messages.thread(chat.id), store.messages.thread(new_id)
    assert [(m.role, m.content) for m in new_thread] == [(m.role, m.content) for m in old_thread]
    # Branches survive: the first prompt's two answers, navigable again.
    first_prompt = store.messages.list_for(new_id)[0]
    store.conversations.switch_branch(new_id, first_prompt.id)
    shown = store.messages.thread(new_id)
    assert [m.content for m in shown] == ["Tell me about <script>alert(1)</script> owls",
                                          "partial owl"]
    assert [m.content for m in store.messages.siblings(shown[1].id)] == [
        "Owls are **nocturnal**.", "partial owl"]
    assert [m.content for m in store.messages.siblings(first_prompt.id)] == [
        first_prompt.content, "Owls, briefly"]


def test_import_of_an_empty_conversation(store):
    chat = store.conversations.create("Empty")
    new_id = import_json(store, export_json(store, chat.id))
    assert store.messages.list_for(new_id) == []
    assert store.conversations.get(new_id).current_leaf_id is None


# --- Markdown and HTML ------------------------------------------------------------------------

def test_markdown_shows_the_current_thread(store, chat):
    text = export_markdown(store, chat.id)
    assert text.startswith("# Owls &amp; &lt;b&gt;bats&lt;/b&gt;\n")
    assert "**You**\n\nOwls, briefly" in text
    assert "**Assistant**\n\nSilent hunters." in text
    assert "And bats?" in text and "Still being written" in text
    assert "nocturnal" not in text  # another branch
    store.conversations.switch_branch(chat.id, store.messages.list_for(chat.id)[1].id)
    text = export_markdown(store, chat.id)
    assert "**Assistant** (gpt-oss-20b, high)" in text
    assert "> **Reasoning**" in text and "Recall <i>birds</i>" in text
    assert "Owls are **nocturnal**." in text  # answers verbatim
    assert "owls" in text
    # A Markdown viewer that renders raw HTML still shows the user's tags as text.
    rendered = MarkdownIt("commonmark").render(text)
    assert "<script" not in rendered and "<i>" not in rendered and "<b>" not in rendered
    assert "&lt;script&gt;" in rendered


def test_markdown_closes_a_code_block_cut_off(store):
    chat = store.conversations.create()
    _, answer = store.messages.add_turn(chat.id, "code please")
    store.messages.update(answer.id, content="```python\nwhile True:\n", status="cancelled")
    store.messages.add_turn(chat.id, "next question")
    rendered = MarkdownIt("commonmark").render(export_markdown(store, chat.id))
    assert "<p>next question</p>" in rendered


def test_html_is_standalone_and_safe(store, chat):
    store.conversations.switch_branch(chat.id, store.messages.list_for(chat.id)[1].id)
    _, answer = store.messages.add_turn(chat.id, "More?")
    store.messages.update(answer.id, status="complete", content=(
        "See ![a map](https://example.com/map.png) and [a link](https://example.com).\n\n"
        "```python\nprint('<hi>')\n```\n\n<img src=x onerror=alert(1)> <script>bad()</script>"))
    page = export_html(store, chat.id)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<title>Owls &amp; &lt;b&gt;bats&lt;/b&gt;</title>" in page
    assert "Tell me about &lt;script&gt;alert(1)&lt;/script&gt; owls" in page
    assert "Owls are <strong>nocturnal</strong>." in page
    assert "<details><summary>Reasoning</summary>" in page and "Recall &lt;i&gt;birds" in page
    assert "gpt-oss-20b, high" in page
    lowered = page.lower()
    assert "<script" not in lowered and "<link" not in lowered and "<img" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    tags = Tags()
    tags.feed(page)
    assert {"script", "link", "img", "iframe", "object", "embed", "base"}.isdisjoint(tags.names)
    assert not [attr for attr in tags.attributes if attr[0] in ("src", "srcset", "style")
                and "http" in (attr[1] or "")]
    assert not [attr for attr in tags.attributes if attr[0].startswith("on")]
    assert ("href", "https://example.com/map.png") in tags.attributes  # an image: a link
    assert not [attr for attr in tags.attributes if attr[1] and "copy:" in attr[1]]
    assert "Silent hunters" not in page  # another branch


def test_exports_of_an_unknown_conversation(store):
    for export in (export_markdown, export_html, export_json):
        with pytest.raises(KeyError):
            export(store, 12345)


# --- malformed imports --------------------------------------------------------------------------

def _break(document: dict, change) -> dict:
    broken = copy.deepcopy(document)
    change(broken)
    return broken


BROKEN = {
    "wrong format": lambda d: d.update(format="something.else"),
    "newer version": lambda d: d.update(version=2),
    "version as text": lambda d: d.update(version="1"),
    "bad role": lambda d: d["messages"][0].update(role="robot"),
    "bad status": lambda d: d["messages"][1].update(status="done"),
    "bad effort": lambda d: d["messages"][1].update(effort="max"),
    "dangling parent": lambda d: d["messages"][1].update(parent_id=999),
    "parent later in the list": lambda d: d["messages"].reverse(),
    "repeated id": lambda d: d["messages"][1].update(id=d["messages"][0]["id"]),
    "id as text": lambda d: d["messages"][0].update(id="1"),
    "content not text": lambda d: d["messages"][0].update(content=None),
    "stats not an object": lambda d: d["messages"][1].update(stats=[1]),
    "bad date": lambda d: d["messages"][0].update(created_at="yesterday"),
    "date without zone": lambda d: d.update(created_at="2024-01-01T00:00:00"),
    "pinned not a bool": lambda d: d.update(pinned=1),
    "blank title": lambda d: d.update(title="  "),
    "messages not a list": lambda d: d.update(messages={}),
    "message not an object": lambda d: d["messages"].append("hi"),
    "leaf not a message": lambda d: d.update(current_leaf_id=999),
    "leaf missing": lambda d: d.update(current_leaf_id=None),
    "leaf not hashable": lambda d: d.update(current_leaf_id=[1]),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_malformed_documents_change_nothing(store, chat, problem):
    broken = _break(export_json(store, chat.id), BROKEN[problem])
    before = database_state(store)
    with pytest.raises(ConversationImportError) as caught:
        import_json(store, broken)
    assert str(caught.value)  # something to show the user
    assert database_state(store) == before


@pytest.mark.parametrize("data", [
    "not json at all", b"\xff\xfe\x00", "[1, 2]", "null", '{"format": "hearth.conversation"}',
    "[" * 100_000,
])
def test_not_a_conversation_file(store, chat, data):
    before = database_state(store)
    with pytest.raises(ConversationImportError):
        import_json(store, data)
    assert database_state(store) == before


def test_failure_while_writing_rolls_everything_back(store, chat, monkeypatch):
    document = export_json(store, chat.id)
    before = database_state(store)
    real_add, calls = store.messages.add, []

    def failing_add(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_add(*args, **kwargs)

    monkeypatch.setattr(store.messages, "add", failing_add)
    with pytest.raises(RuntimeError, match="disk full"):
        import_json(store, document)
    assert database_state(store) == before
    assert not store.conn.in_transaction


def test_import_error_is_a_value_error():
    assert issubclass(ConversationImportError, ValueError)


def test_tool_calls_go_with_the_answer_in_every_format_and_import_back(store):
    chat = store.conversations.create("With tools")
    user, answer = store.messages.add_turn(chat.id, "What is 6*7?")
    store.messages.update(answer.id, content="It is 42.", status="complete")
    call = store.tool_calls.add(answer.id, 0, recipient="functions.calculator",
                                arguments='{"expression":"6*7"}', channel="commentary",
                                content_type="json", constrained=True, call_id="call_0",
                                reasoning="Compute.", preamble="Let me check.")
    store.tool_calls.update(call.id, status="done", result="42", pages=["https://example.org/a"],
                            started=True, duration_s=0.01)
    markdown = export_markdown(store, chat.id)
    assert "Tool call: functions.calculator (done, 0.01 s)" in markdown
    assert '{"expression":"6*7"}' in markdown and "Let me check." in markdown
    page = export_html(store, chat.id)
    assert '<details class="tool">' in page and "&quot;expression&quot;" in page
    assert "https://example.org/a" in page and "<script" not in page
    data = export_json(store, chat.id)
    (exported,) = data["messages"][1]["tool_calls"]
    assert (exported["recipient"], exported["result"], exported["pages"]) == (
        "functions.calculator", "42", ["https://example.org/a"])
    again = import_json(store, dumps(data))
    imported_answer = store.messages.thread(again)[-1]
    (copy,) = store.tool_calls.for_message(imported_answer.id)
    assert (copy.recipient, copy.arguments, copy.status, copy.result, copy.pages, copy.preamble) == (
        "functions.calculator", '{"expression":"6*7"}', "done", "42", ("https://example.org/a",),
        "Let me check.")


def test_a_bad_tool_call_in_an_import_changes_nothing(store):
    chat = store.conversations.create("With tools")
    user, answer = store.messages.add_turn(chat.id, "Q")
    store.messages.update(answer.id, content="A", status="complete")
    data = export_json(store, chat.id)
    data["messages"][1]["tool_calls"] = [{"seq": 0, "recipient": "python", "status": "exploded"}]
    before = store.conversations.count()
    with pytest.raises(ConversationImportError, match="tool call 1 has an unknown status"):
        import_json(store, dumps(data))
    assert store.conversations.count() == before


def test_exports_keep_every_word_of_a_deeply_nested_answer(store):
    """Lists and quotes nested past the Markdown parser's limit: the HTML page shows every
    word (the deepest as text), the Markdown file holds the answer as written."""
    answer = ("".join("  " * level + f"- item{level}\n" for level in range(14))
              + "\n" + "> " * 30 + "quoted words\n\nthe end\n")
    chat = store.conversations.create("Deep")
    _, reply = store.messages.add_turn(chat.id, "An outline, please")
    store.messages.update(reply.id, content=answer, status="complete")
    page = export_html(store, chat.id)
    text = html.unescape(re.sub(r"<[^>]*>", " ", page))
    for word in re.findall(r"[a-z]+\d*", answer):
        assert word in text, word
    assert answer.strip() in export_markdown(store, chat.id)
