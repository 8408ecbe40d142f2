"""The model's way into the library: search_documents searches library folders (one named in
the call, or those the chat pinned) besides the chat's attachments, and its passages cite
the file and page and open as a passage with the file's path. End to end on the tiny
gpt-oss, made by a grammar to call the tool."""

from __future__ import annotations

import pytest
from fixtures.library import PDF_FACT, write_library
from fixtures.tiny_models import calling
from fixtures.tool_turns import called

from app.core import provenance
from app.core.library import sources
from app.core.library.pins import chat_folders, set_chat_folders
from app.core.library.service import index_all
from app.core.tools.base import ToolContext, ToolError
from app.core.tools.documents_tool import DocumentSearch
from inference.runtime import Engine, LoadOptions


@pytest.fixture
def two_folders(store, tmp_path):
    docs = store.library.add_folder(write_library(tmp_path / "Docs"))
    other = tmp_path / "Notes"
    other.mkdir()
    (other / "trip.md").write_text("# Trip\n\nThe glacier walk starts at the northern basin.\n")
    notes = store.library.add_folder(other)
    index_all(store)
    return docs, notes


def search(store, arguments: dict, cid: int | None = None):
    return DocumentSearch().run(arguments, ToolContext(cid, store.path.parent, store=store))


def test_the_whole_library_is_searched_by_default(store, two_folders):
    out = search(store, {"query": "northern basin glacier"})
    labels = [c["label"] for c in out.citations]
    assert "Docs/survey.pdf, p. 3" in labels and "Notes/trip.md, Trip" in labels
    assert "[1] " in out.text and "[2] " in out.text


def test_a_named_folder_limits_the_search(store, two_folders):
    out = search(store, {"query": "northern basin glacier", "folder": "notes"})
    assert [c["label"] for c in out.citations] == ["Notes/trip.md, Trip"]
    nothing = search(store, {"query": "launch code", "folder": "Notes"})
    assert nothing.citations == () and "No passage in Notes matches" in nothing.text
    with pytest.raises(ToolError, match="No library folder is called 'Recipes'.*Docs, Notes"):
        search(store, {"query": "x", "folder": "Recipes"})


def test_a_chat_pinned_to_folders_searches_them_and_its_attachments(store, two_folders, tmp_path):
    from app.core import documents

    docs, notes = two_folders
    chat = store.conversations.create()
    set_chat_folders(store, chat.id, [notes.id])
    assert chat_folders(store, chat.id) == [notes.id]
    labels = [c["label"] for c in search(store, {"query": "glacier basin"}, chat.id).citations]
    assert labels == ["Notes/trip.md, Trip"]
    attached = tmp_path / "memo.txt"
    attached.write_text("A glacier memo attached to this chat.\n")
    user = store.messages.add(chat.id, "user", "see the memo")
    store.documents.attach(user.id, [documents.ingest(store, attached).id])
    labels = [c["label"] for c in search(store, {"query": "glacier"}, chat.id).citations]
    assert sorted(labels) == ["Notes/trip.md, Trip", "memo.txt, line 1"]
    other = store.conversations.create()  # pins are per chat
    everywhere = {c["label"].split(",")[0] for c in
                  search(store, {"query": "glacier", "limit": 8}, other.id).citations}
    assert everywhere == {"Docs/survey.pdf", "Notes/trip.md", "memo.txt"}
    store.library.remove_folder(notes.id)
    assert chat_folders(store, chat.id) == []  # a removed folder is no longer pinned


def test_a_citation_opens_its_passage_with_the_file_and_page(store, two_folders, tmp_path):
    out = search(store, {"query": "crevasses"})
    (citation,) = [c for c in out.citations if c["label"].startswith("Docs/survey.pdf")]
    assert citation["file_id"]
    cid = store.conversations.create().id
    store.messages.add(cid, "user", "how many crevasses?")
    answer = store.messages.add(cid, "assistant", "812 [1].")
    store.messages.update(answer.id, stats={"citations": [citation]})
    source = sources.of_citation(store, answer.id, citation["key"])
    assert source.label == "Docs/survey.pdf, p. 3" and source.page == 3
    assert source.path == str(tmp_path / "Docs" / "survey.pdf") and source.exists
    assert PDF_FACT in " ".join(source.text.split())
    (tmp_path / "Docs" / "survey.pdf").rename(tmp_path / "Docs" / "moved.pdf")
    index_all(store)  # the rename is followed: the citation opens the file where it is now
    assert sources.of_citation(store, answer.id, citation["key"]).path == \
        str(tmp_path / "Docs" / "moved.pdf")


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss):
    e = Engine(tiny_gpt_oss, LoadOptions(n_ctx=4096, flash_attn=False))
    yield e
    e.close()


def test_the_model_searches_a_folder_and_cites_the_file_and_page(store, engine, two_folders):
    grammar = calling("functions.search_documents", '{"query":"crevasses","folder":"Docs"}')
    result, _, calls = called(store, engine, grammar, tools=[DocumentSearch()], max_steps=1)
    assert calls[0].status == "done" and "[1] Docs/survey.pdf, p. 3" in calls[0].result
    assert "812 crevasses" in " ".join(calls[0].result.split())
    made = provenance.of(store.messages.get(result.message_id))
    assert [c["label"] for c in made.citations] == ["Docs/survey.pdf, p. 3"]
    source = sources.of_citation(store, result.message_id, 1)
    assert source.page == 3 and source.path.endswith("Docs/survey.pdf")
