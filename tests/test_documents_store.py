"""The document library: schema, content dedupe, the chunk index, and attachments
along a conversation's branches."""

from __future__ import annotations

import re
import sqlite3

import pytest
from fixtures.documents import FACT, FACT_PAGE, report_pages, write_pdf

from storage import Store, sha256_file
from storage.documents import (
    Extracted,
    Location,
    Unit,
    chunk,
    extract,
    question_expression,
)

SHA_A, SHA_B, SHA_C = "a" * 64, "b" * 64, "c" * 64


def note(text: str, title: str = "Note") -> Extracted:
    return Extracted((Unit(text, Location(section="")),), title, "markdown")


def test_schema(store):
    db = store.db
    columns = {
        "documents": ["id", "sha256", "name", "kind", "title", "size", "pages", "chars",
                      "approx_tokens", "chunk_count", "warnings", "created_at"],
        "document_chunks": ["id", "document_id", "seq", "text", "location", "approx_tokens",
                            "overlap"],
        "message_documents": ["message_id", "document_id", "position"],
    }
    for table, names in columns.items():
        assert [c.name for c in db[table].columns] == names
        sql = db[table].schema
        for name in names:  # every column explains itself (see test_storage_schema)
            assert re.search(rf"(?:^|,)\s*{name}\s[^,]*?,?[ \t]*--", sql, re.MULTILINE), name
    assert sorted((fk.column, fk.other_table, fk.on_delete)
                  for fk in db["message_documents"].foreign_keys) == [
        ("document_id", "documents", "CASCADE"), ("message_id", "messages", "CASCADE")]
    assert [(fk.column, fk.on_delete) for fk in db["document_chunks"].foreign_keys] == [
        ("document_id", "CASCADE")]
    assert "porter" in db["document_chunks_fts"].schema
    insert = ("INSERT INTO documents (sha256, name, kind, size, chars, approx_tokens,"
              " chunk_count, created_at) VALUES (?, ?, 'text', 1, 1, 1, 1, 'now')")
    db.execute(insert, (SHA_A, "x.txt"))
    with pytest.raises(sqlite3.IntegrityError):  # one row per content
        db.execute(insert, (SHA_A, "y.txt"))


def test_add_stores_chunks_and_dedupes_by_content(store, tmp_path):
    path = write_pdf(tmp_path / "report.pdf", report_pages(6, {FACT_PAGE: FACT}))
    extracted = extract(path)
    digest = sha256_file(path)
    doc = store.documents.add(extracted, sha256=digest.upper(), name="report.pdf", size=123)
    assert (doc.sha256, doc.name, doc.kind, doc.pages, doc.size) == (
        digest, "report.pdf", "pdf", 6, 123)
    stored = store.documents.chunks(doc.id)
    expected = chunk(extracted)
    assert doc.chunk_count == len(stored) == len(expected)
    assert [(c.seq, c.text, c.location, c.overlap) for c in stored] == [
        (c.seq, c.text, c.location, c.overlap) for c in expected]
    assert doc.approx_tokens == sum(c.approx_tokens for c in stored)
    assert doc.chars == extracted.chars
    again = store.documents.add(extracted, sha256=digest, name="copy of report.pdf", size=123)
    assert again == doc and store.documents.find(digest) == doc
    assert store.documents.list() == [doc]
    assert store.db.execute("SELECT COUNT(*) FROM document_chunks").fetchone()[0] == len(stored)


def test_add_rejects_bad_digests_and_kinds(store):
    with pytest.raises(ValueError):
        store.documents.add(note("x"), sha256="not-a-digest", name="n", size=1)
    with pytest.raises(ValueError):
        store.documents.add(Extracted((), None, "spreadsheet"), sha256=SHA_A, name="n", size=1)
    assert store.documents.list() == []


def test_list_get_find_and_delete(store):
    first = store.documents.add(note("alpha words", "A"), sha256=SHA_A, name="a.md", size=1)
    second = store.documents.add(note("beta words", "B"), sha256=SHA_B, name="b.md", size=1)
    assert store.documents.list() == [second, first]
    assert store.documents.get(first.id) == first and store.documents.get(999) is None
    assert store.documents.find(SHA_C) is None
    chat = store.conversations.create()
    message = store.messages.add(chat.id, "user", "hi")
    store.documents.attach(message.id, [first.id, second.id])
    store.documents.delete(first.id)
    assert store.documents.list() == [second]
    assert store.documents.chunks(first.id) == []
    assert store.documents.for_message(message.id) == [second]
    assert store.documents.search_chunks([first.id, second.id], "alpha") == []
    with pytest.raises(KeyError):
        store.documents.delete(first.id)
    assert store.db.execute(
        "INSERT INTO document_chunks_fts (document_chunks_fts) VALUES ('integrity-check')")


def test_search_chunks_ranks_by_bm25_within_the_given_documents(store, tmp_path):
    path = write_pdf(tmp_path / "report.pdf", report_pages(8, {FACT_PAGE: FACT}))
    report = store.documents.add(extract(path), sha256=SHA_A, name="report.pdf", size=1)
    other = store.documents.add(note("Turbine efficiency of the other kind."),
                                sha256=SHA_B, name="other.md", size=1)
    hits = store.documents.search_chunks([report.id],
                                         "What efficiency did the Zephyr turbine reach?")
    assert hits and hits[0][0].location == Location(page=FACT_PAGE)
    assert "47.3 percent" in hits[0][0].text
    assert all(c.document_id == report.id for c, _ in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert all(score > 0 for _, score in hits)
    both = store.documents.search_chunks([report.id, other.id], "turbines efficiency", limit=50)
    assert {c.document_id for c, _ in both} == {report.id, other.id}  # porter: turbines ~ turbine
    assert len(store.documents.search_chunks([report.id, other.id], "turbine", limit=1)) == 1


@pytest.mark.parametrize("query", ["", "   ", "the of and", '"', "NEAR(a b)", "a* OR -b",
                                   "\ud800 lone surrogate", "col:umn ^start", "x" * 10000])
def test_search_chunks_never_raises_on_odd_questions(store, query):
    doc = store.documents.add(note("some text about columns and starts"), sha256=SHA_A,
                              name="n.md", size=1)
    assert isinstance(store.documents.search_chunks([doc.id], query), list)
    assert store.documents.search_chunks([], "columns") == []


def test_question_expression_keeps_distinctive_words():
    assert question_expression("What is the Zephyr's efficiency, in %?") == (
        '"zephyr" OR "efficiency"')
    assert question_expression('page 4 "quoted" a') == '"page" OR "4" OR "quoted"'
    assert question_expression("the the of") == ""


def test_attachments_follow_the_branch_shown(store):
    a = store.documents.add(note("alpha"), sha256=SHA_A, name="a.md", size=1)
    b = store.documents.add(note("beta"), sha256=SHA_B, name="b.md", size=1)
    c = store.documents.add(note("gamma"), sha256=SHA_C, name="c.md", size=1)
    chat = store.conversations.create()
    with store.transaction():  # the message and its attachments land together
        first, answer = store.messages.add_turn(chat.id, "read these")
        store.documents.attach(first.id, [b.id, a.id, b.id])
    store.documents.attach(first.id, [a.id, c.id])  # a again: no-op; c goes last
    assert store.documents.for_message(first.id) == [b, a, c]
    second, _ = store.messages.add_turn(chat.id, "and this")
    store.documents.attach(second.id, [a.id])
    assert store.documents.for_conversation(chat.id) == [b, a, c]
    # Edit the first prompt: a sibling branch without the attachments.
    edited, _ = store.messages.add_turn(chat.id, "only text", parent_id=None)
    assert store.documents.for_conversation(chat.id) == []
    store.documents.attach(edited.id, [c.id])
    assert store.documents.for_conversation(chat.id) == [c]
    store.conversations.switch_branch(chat.id, answer.id)  # back to the first branch
    assert store.documents.for_conversation(chat.id) == [b, a, c]
    other = store.conversations.create()
    assert store.documents.for_conversation(other.id) == []
    assert store.documents.for_conversation(12345) == []


def test_deleted_messages_take_their_attachments_out_of_the_context(store):
    doc = store.documents.add(note("alpha"), sha256=SHA_A, name="a.md", size=1)
    chat = store.conversations.create()
    user, _ = store.messages.add_turn(chat.id, "read this")
    store.documents.attach(user.id, [doc.id])
    assert store.documents.for_conversation(chat.id) == [doc]
    deleted = store.messages.delete(user.id)
    assert store.documents.for_conversation(chat.id) == []
    store.messages.restore(deleted)
    assert store.documents.for_conversation(chat.id) == [doc]
    store.messages.purge_deleted("9999")
    assert store.documents.for_message(user.id) == [doc]
    store.messages.delete(user.id)
    store.messages.purge_deleted("9999")
    assert store.db.execute("SELECT COUNT(*) FROM message_documents").fetchone()[0] == 0
    assert store.documents.get(doc.id) == doc  # the library keeps it


def test_attach_unknown_ids_fails_whole(store):
    doc = store.documents.add(note("alpha"), sha256=SHA_A, name="a.md", size=1)
    chat = store.conversations.create()
    user = store.messages.add(chat.id, "user", "hi")
    with pytest.raises(sqlite3.IntegrityError):
        store.documents.attach(user.id, [doc.id, 999])
    assert store.documents.for_message(user.id) == []
    with pytest.raises(sqlite3.IntegrityError):
        store.documents.attach(999, [doc.id])


def test_library_is_shared_across_connections(tmp_path):
    path = tmp_path / "hearth.db"
    with Store(path) as writer, Store(path) as reader:
        doc = writer.documents.add(note("shared words"), sha256=SHA_A, name="n.md", size=1)
        assert reader.documents.find(SHA_A) == doc
        assert reader.documents.search_chunks([doc.id], "shared")[0][0].document_id == doc.id
