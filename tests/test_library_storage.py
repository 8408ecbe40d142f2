"""Library folders in storage, on real files and real SQLite: what a scan finds and leaves
out, incremental indexing (size + mtime, then the hash), renames and deletions followed,
hostile files skipped once with their reason, folders removed with their index, and the
search a person and the model use (phrases, prefixes, Chinese and Japanese words)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from fixtures.library import BAD_NAME, CJK_FACT, FACT, PDF_FACT, write_hostile, write_library
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.library.service import index_all
from storage import Store
from storage.documents import query
from storage.library import LibraryError, collect_dropped, index_file, pending, scan, search_library

REPO = Path(__file__).resolve().parents[1]


def indexed(store: Store) -> dict[str, int]:
    """{relative path: document id} of the indexed files."""
    return {f.path: f.document_id for f in store.library.files(status="indexed")}


def reindex(store: Store) -> None:
    index_all(store)


@pytest.fixture
def library(tmp_path, store):
    root = write_library(tmp_path / "Docs")
    folder = store.library.add_folder(root)
    reindex(store)
    return root, folder


def test_a_folder_is_indexed_where_it_is_without_what_is_left_out(store, library):
    root, folder = library
    assert sorted(indexed(store)) == ["notes/plan.md", "notes/todo.txt", "survey.pdf",
                                      "中文/预算.txt"]
    assert store.library.counts() == {"indexed": 4, "skipped": 0, "pending": 0}
    assert folder.name == "Docs" and store.library.folder(folder.id).scanned_at
    (hit,) = search_library(store, "launch code")
    assert hit.source == "Docs/notes/plan.md" and FACT in hit.text
    (page,) = search_library(store, "crevasses")
    assert page.chunk.location.page == 3 and page.source == "Docs/survey.pdf"
    assert PDF_FACT in " ".join(page.text.split())
    assert not list(root.glob("**/*.db"))  # nothing was written into the folder


def test_a_rescan_with_nothing_changed_writes_nothing(store, library):
    _root, folder = library
    before = store.db.execute("SELECT total_changes()").fetchone()[0]
    result = scan(store, folder)
    assert result.unchanged and result.found == 4
    # Only the folder's scanned_at was written.
    assert store.db.execute("SELECT total_changes()").fetchone()[0] - before == 1


def test_a_changed_file_is_read_again_and_a_touched_one_is_not(store, library):
    root, folder = library
    plan = root / "notes" / "plan.md"
    old_document = indexed(store)["notes/plan.md"]
    plan.write_text("# Plan\n\nThe launch code changed to 9000-OMEGA.\n")
    os.utime(plan, ns=(1, 2_000_000_000_000_000_000))  # a new mtime, whatever the clock says
    result = scan(store, folder)
    assert (result.changed, result.added, result.removed) == (1, 0, 0)
    reindex(store)
    assert indexed(store)["notes/plan.md"] != old_document
    assert store.documents.get(old_document) is None  # collected: nothing uses it now
    assert search_library(store, "9000-OMEGA")[0].source == "Docs/notes/plan.md"
    assert search_library(store, "4471-ALPHA") == []
    documents = store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    os.utime(plan, ns=(1, 3_000_000_000_000_000_000))  # touched: same bytes
    assert scan(store, folder).changed == 1
    reindex(store)
    assert store.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == documents
    assert pending(store) == []


def test_a_renamed_file_keeps_its_document_and_is_not_extracted_again(store, library):
    root, folder = library
    survey = indexed(store)["survey.pdf"]
    chunks = [c.id for c in store.documents.chunks(survey)]
    (root / "survey.pdf").rename(root / "notes" / "survey-2024.pdf")
    result = scan(store, folder)
    assert (result.added, result.removed) == (1, 1)
    reindex(store)
    assert indexed(store)["notes/survey-2024.pdf"] == survey
    assert [c.id for c in store.documents.chunks(survey)] == chunks  # the same rows
    assert "survey.pdf" not in indexed(store)
    assert search_library(store, "crevasses")[0].source == "Docs/notes/survey-2024.pdf"


def test_deleted_files_leave_the_index(store, library):
    root, folder = library
    gone = indexed(store)["notes/todo.txt"]
    (root / "notes" / "todo.txt").unlink()
    assert scan(store, folder).removed == 1
    collect_dropped(store)
    assert "notes/todo.txt" not in indexed(store) and store.documents.get(gone) is None
    assert search_library(store, "apples") == []


def test_patterns_decide_what_is_indexed(store, library):
    _root, folder = library
    folder = store.library.set_patterns(folder.id, include=["*.md", "*.pdf"], exclude=["notes"])
    result = scan(store, folder)
    assert result.removed == 3  # notes/plan.md, notes/todo.txt, 中文/预算.txt
    assert sorted(indexed(store)) == ["survey.pdf"]
    store.library.set_patterns(folder.id, include=[], exclude=[])  # hidden folders too
    reindex(store)
    assert ".git/ignored.md" in indexed(store) and "build/ignored.md" in indexed(store)


def test_hostile_files_are_skipped_once_with_a_reason_and_never_hang_the_scan(store, tmp_path):
    root = tmp_path / "Hostile"
    reasons = write_hostile(root)
    (root / "fine.md").write_text("A normal note about lanterns.\n")
    folder = store.library.add_folder(root)
    index_all(store)
    skipped = {f.path: f.reason for f in store.library.files(status="skipped")}
    for rel, says in reasons.items():
        assert says in skipped.pop(rel), (rel, skipped)
    assert skipped == {}
    assert sorted(indexed(store)) == sorted(["fine.md", BAD_NAME])
    bad = next(f for f in store.library.files() if f.path == BAD_NAME)
    assert bad.shown_path == "caf\\xe9-notes.txt"  # shown spelled out, opened as it is
    assert "Docs" not in search_library(store, "cafe")[0].source
    assert search_library(store, "cafe")[0].source == "Hostile/caf\\xe9-notes.txt"
    # Skipped once: a rescan leaves them alone (no retries, no writes).
    rows = {f.id: f.updated_at for f in store.library.files(status="skipped")}
    assert scan(store, folder).unchanged
    index_all(store)
    assert {f.id: f.updated_at for f in store.library.files(status="skipped")} == rows


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to another user to make files unreadable")
def test_unreadable_files_and_folders_are_skipped_with_the_reason():
    """As root nothing is unreadable: the indexing runs in a child that drops to `nobody`
    (in a folder of its own under /tmp: pytest's are closed to other users)."""
    tmp_path = Path(tempfile.mkdtemp(prefix="hearth-unreadable-"))
    root = tmp_path / "Private"
    (root / "closed").mkdir(parents=True)
    (root / "closed" / "inside.md").write_text("hidden")
    (root / "locked.txt").write_text("secret")
    (root / "open.txt").write_text("A readable note about copper.\n")
    (root / "locked.txt").chmod(0)
    (root / "closed").chmod(0)
    for path in (tmp_path, root):
        path.chmod(0o777)
    data = tmp_path / "data"
    data.mkdir(mode=0o777)
    data.chmod(0o777)
    # The interpreter lives where `nobody` cannot go: start as root, then drop (the readers
    # imported first, for the same reason).
    code = ("import os\nfrom storage import Store\nfrom app.core.library.service import index_all\n"
            "import storage.documents.read_text\n"
            "os.setgid(65534)\nos.setuid(65534)\n"
            f"s = Store({str(data / 'h.db')!r})\ns.library.add_folder({str(root)!r})\n"
            "index_all(s)\nfor f in s.library.files(): print(f.status, f.path, f.reason)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert lines == ["indexed open.txt None",
                     "skipped closed the folder could not be opened: Permission denied",
                     "skipped locked.txt Permission denied"]


def test_a_file_changing_into_a_pipe_after_the_scan_does_not_block(store, tmp_path):
    root = tmp_path / "Swap"
    root.mkdir()
    (root / "note.txt").write_text("soon a pipe")
    folder = store.library.add_folder(root)
    scan(store, folder)
    (root / "note.txt").unlink()
    os.mkfifo(root / "note.txt")  # opening it for reading would wait for a writer forever
    (file,) = pending(store)
    assert index_file(store, folder, file) == "skipped"
    assert "pipe" in store.library.file(file.id).reason


def test_a_folder_that_is_away_keeps_its_index(store, library):
    root, folder = library
    documents = indexed(store)
    away = root.rename(root.with_name("unplugged"))  # as an external drive not mounted
    result = scan(store, folder)
    assert result.unavailable and result.removed == 0
    assert indexed(store) == documents and search_library(store, "launch")
    away.rename(root)
    assert scan(store, folder).unchanged


def test_removing_a_folder_removes_its_index_but_keeps_what_a_chat_attached(store, library):
    root, folder = library
    plan = indexed(store)["notes/plan.md"]
    chat = store.conversations.create()
    user = store.messages.add(chat.id, "user", "read this")
    store.documents.attach(user.id, [plan])  # the same content, attached in a chat
    store.library.remove_folder(folder.id)
    assert search_library(store, "launch") == []  # at once
    assert store.library.files() == [] and store.library.folders() == []
    collect_dropped(store)
    remaining = [d.id for d in store.documents.list()]
    assert remaining == [plan]  # the chat's attachment stays; the rest is gone
    chunks = store.db.execute("SELECT COUNT(*) FROM document_chunks").fetchone()[0]
    assert chunks == len(store.documents.chunks(plan))
    assert (root / "notes" / "plan.md").exists()  # the files are untouched


def test_a_file_indexed_while_its_folder_is_removed_leaves_nothing_behind(store, tmp_path):
    root = write_library(tmp_path / "Docs")
    folder = store.library.add_folder(root)
    scan(store, folder)
    file = next(f for f in pending(store) if f.path == "notes/plan.md")
    store.library.remove_folder(folder.id)  # another process removed it meanwhile
    assert index_file(store, folder, file) == "gone"
    collect_dropped(store)
    assert store.documents.list() == []


def test_folders_cannot_nest_and_must_exist(store, tmp_path):
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    first = store.library.add_folder(outer)
    assert store.library.add_folder(str(outer) + "/") == first  # the same folder
    with pytest.raises(LibraryError, match="already in the library"):
        store.library.add_folder(outer / "inner")
    with pytest.raises(LibraryError, match="not a folder"):
        store.library.add_folder(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LibraryError, match="not a folder"):
        store.library.add_folder(tmp_path / "file.txt")
    with pytest.raises(LibraryError, match="holds"):
        store.library.add_folder(tmp_path)
    assert store.library.find("OUTER") == [first]  # a name, without case
    assert store.library.find(str(outer)) == [first]


# -- search -------------------------------------------------------------------------------------


def test_phrases_and_prefixes(store, library):
    assert [h.source for h in search_library(store, "harb saf")] == ["Docs/notes/plan.md"]
    assert search_library(store, '"kept in the harbour"')[0].source == "Docs/notes/plan.md"
    assert search_library(store, '"harbour kept"') == []  # words out of order: no phrase
    hit = search_library(store, "launch")[0]
    assert "\x02launch\x03" in hit.snippet
    # The model's reading: any distinctive word, ranked.
    assert search_library(store, "what is the launch password?", mode="any")[0].source == \
        "Docs/notes/plan.md"
    assert search_library(store, "what is the launch password?", mode="all") == []
    # Stop words typed in the search box are left out, unless nothing else is there.
    assert search_library(store, "the launch code")[0].source == "Docs/notes/plan.md"
    assert search_library(store, '"in the harbour"')[0].source == "Docs/notes/plan.md"
    assert search_library(store, "the")  # only stop words: looked for after all


@pytest.mark.parametrize("words, expected", [
    ("预算", "中文/预算.txt"), ("报告", "中文/预算.txt"), ("五百万", "中文/预算.txt"),
    ("东京", "中文/预算.txt"), ("予算", "中文/预算.txt"), ("会", "中文/预算.txt"),
    ('"今年的预算"', "中文/预算.txt"),
])
def test_chinese_and_japanese_words_are_found_inside_sentences(store, library, words, expected):
    hits = search_library(store, words)
    assert [h.file.path for h in hits] == [expected]
    assert CJK_FACT.split("：")[0] in hits[0].text


def test_chinese_words_not_in_the_text_find_nothing(store, library):
    assert search_library(store, "预报") == []  # both characters occur, never together
    assert search_library(store, '"预算今年"') == []


def test_search_scoped_to_folders_and_attachments(store, library, tmp_path):
    other = tmp_path / "Other"
    other.mkdir()
    (other / "memo.md").write_text("The launch party is on Friday.\n")
    second = store.library.add_folder(other)
    reindex(store)
    both = {h.source for h in search_library(store, "launch")}
    assert both == {"Docs/notes/plan.md", "Other/memo.md"}
    only = {h.source for h in search_library(store, "launch", folder_ids=[second.id])}
    assert only == {"Other/memo.md"}
    assert search_library(store, "launch", folder_ids=[]) == []


def test_the_pair_index_is_kept_for_attachments_too(store, tmp_path):
    from app.core import documents

    note = tmp_path / "会议.md"
    note.write_text("# 会议\n\n会议在东京举行。\n", encoding="utf-8")
    doc = documents.ingest(store, note)
    assert store.documents.search_chunks([doc.id], "东京在哪里举行会议")  # a question, no spaces
    store.documents.delete(doc.id)
    assert store.db.execute("SELECT COUNT(*) FROM document_chunks_cjk").fetchone()[0] == 0


FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=st.text(st.characters(codec="utf-8") | st.sampled_from('"*:^()-+ 中文かな'),
                    max_size=60),
       mode=st.sampled_from(["all", "any"]))
def test_any_query_text_is_safe(store, text, mode):
    """Whatever is typed, FTS5 gets a valid expression: search returns, never raises."""
    parsed = query.parse(text, mode)
    for expression in (parsed.main, parsed.cjk):
        if expression:
            store.db.execute("SELECT COUNT(*) FROM document_chunks_fts WHERE document_chunks_fts"
                             " MATCH ?", (expression,)).fetchone()
    assert isinstance(search_library(store, text, mode=mode), list)
