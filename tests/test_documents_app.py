"""The Qt-free glue: ingest a file into the library, plan a turn's documents, and write
the user message the model reads."""

from __future__ import annotations

import importlib
import threading

import pytest
from fixtures.documents import FACT, FACT_PAGE, report_pages, write_docx, write_pdf

from app.core import documents as glue
from app.core.documents import count_tokens, ingest, plan_for_turn, with_documents
from inference.documents_plan import INTRO
from storage import HashCancelled
from storage.documents import DocumentError

QUESTION = "What efficiency did the Zephyr turbine reach in the trial?"
extract_module = importlib.import_module("storage.documents.extract")


@pytest.fixture
def report(tmp_path):
    return write_pdf(tmp_path / "report.pdf", report_pages(40, {FACT_PAGE: FACT}),
                     title="Turbine trials")


def chat_with(store, *documents):
    chat = store.conversations.create()
    with store.transaction():
        user, _ = store.messages.add_turn(chat.id, QUESTION)
        store.documents.attach(user.id, [d.id for d in documents])
    return chat


def test_ingest_stores_once_per_content(store, report, tmp_path, monkeypatch):
    doc = ingest(store, report)
    assert (doc.name, doc.kind, doc.pages, doc.title) == ("report.pdf", "pdf", 40, "Turbine trials")
    assert doc.size == report.stat().st_size and doc.chunk_count >= 40
    copy = tmp_path / "renamed copy.pdf"
    copy.write_bytes(report.read_bytes())
    monkeypatch.setattr(glue, "extract", lambda *a, **k: pytest.fail("extracted again"))
    assert ingest(store, copy) == doc
    assert store.documents.list() == [doc]


def test_ingest_reports_progress_and_can_be_cancelled(store, report):
    seen = []
    ingest(store, report, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, report.stat().st_size) and seen[-1][0] == report.stat().st_size
    stop = threading.Event()
    stop.set()
    other = write_docx(report.parent / "m.docx")
    with pytest.raises(HashCancelled):
        ingest(store, other, cancel=stop.is_set)
    assert len(store.documents.list()) == 1


def test_ingest_refusals_store_nothing(store, tmp_path, monkeypatch):
    locked = write_pdf(tmp_path / "locked.pdf", ["x"], password="pw")
    with pytest.raises(DocumentError, match="protected by a password"):
        ingest(store, locked)
    monkeypatch.setattr(extract_module, "MAX_FILE_BYTES", 1024)
    with pytest.raises(DocumentError, match="Hearth reads documents up to 1 kB"):
        ingest(store, locked)  # refused before hashing
    with pytest.raises(DocumentError, match="was not found"):
        ingest(store, tmp_path / "missing.pdf")
    assert store.documents.list() == []


def test_plan_retrieves_the_page_holding_the_answer(store, report):
    doc = ingest(store, report)
    chat = chat_with(store, doc)
    plan = plan_for_turn(store, None, chat.id, QUESTION, budget=1500)
    [entry] = plan.documents
    assert entry.mode == "passages" and entry.pages_total == 40
    assert entry.shown == f"{entry.pages_used} of 40 pages"
    best = max(plan.passages, key=lambda p: p.score)
    assert best.label == "report.pdf, p. 4" and best.location == {"page": FACT_PAGE}
    assert "47.3 percent" in best.text
    assert f"[{best.key}] report.pdf, p. 4\n" in plan.text
    assert plan.tokens <= 1500


def test_plan_whole_when_the_budget_allows(store, tmp_path):
    doc = ingest(store, write_docx(tmp_path / "manual.docx"))
    chat = chat_with(store, doc)
    plan = plan_for_turn(store, None, chat.id, "How heavy is the rope?", budget=4000)
    assert plan.complete and [d.mode for d in plan.documents] == ["whole"]
    assert [p.label for p in plan.passages] == [
        "manual.docx", "manual.docx, Introduction", "manual.docx, Introduction › Setup",
        "manual.docx, Supplies"]
    assert "| Rope | 2 | 1.5 kg |" in plan.text


def test_plan_with_the_models_tokenizer(store, report, tiny_gpt_oss):
    from inference.runtime import Engine, LoadOptions

    doc = ingest(store, report)
    chat = chat_with(store, doc)
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=2048)) as engine:
        count = count_tokens(engine)
        plan = plan_for_turn(store, count, chat.id, QUESTION, budget=3000)
        # The tiny model's vocabulary is bytes: about four times the estimate.
        assert plan.tokens == len(count(plan.text)) <= 3000
        assert len(count(plan.text)) > 3 * len(plan.text) // 4
    assert any("47.3 percent" in p.text and p.label.endswith("p. 4") for p in plan.passages)


def test_plan_follows_the_branch_shown(store, report, tmp_path):
    doc = ingest(store, report)
    chat = chat_with(store, doc)
    assert plan_for_turn(store, None, chat.id, QUESTION, 1500).documents
    store.messages.add_turn(chat.id, "A new branch without it", parent_id=None)
    empty = plan_for_turn(store, None, chat.id, QUESTION, 1500)
    assert (empty.documents, empty.text) == ((), "")


def test_with_documents_puts_passages_before_the_question(store, report):
    doc = ingest(store, report)
    chat = chat_with(store, doc)
    plan = plan_for_turn(store, None, chat.id, QUESTION, budget=1500)
    message = with_documents(plan, QUESTION)
    assert message.startswith(INTRO) and message.endswith(f"\n\nQuestion: {QUESTION}")
    nothing = plan_for_turn(store, None, chat.id, QUESTION, budget=0)
    assert with_documents(nothing, QUESTION) == QUESTION
    assert nothing.documents[0].mode == "none"
