"""The context plan: whole or passages against the budget, what was left out, citations.
Pure functions over token counts: no storage, no model."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from common.units import estimate_tokens
from inference.context import output_reserve
from inference.documents_plan import (
    INTRO,
    PlanChunk,
    PlanDocument,
    citation_label,
    documents_budget,
    location_label,
    plan_context,
)


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def pdf(doc_id: int, name: str, pages: int, per_page: int = 2, tokens: int = 100,
        scores: dict[int, float] | None = None) -> PlanDocument:
    """A PDF of ``pages`` pages, ``per_page`` chunks each, chunk ids doc_id*1000 + seq."""
    chunks = []
    for seq in range(pages * per_page):
        page = seq // per_page + 1
        chunks.append(PlanChunk(
            id=doc_id * 1000 + seq, seq=seq, text=f"p{page}c{seq} " + words(20, "w"),
            location={"page": page}, score=(scores or {}).get(seq, 0.0), tokens=tokens))
    return PlanDocument(doc_id, name, chunks, pages=pages)


def test_labels():
    assert location_label({"page": 12}) == "p. 12"
    assert location_label({"section": "Intro › Setup"}) == "Intro › Setup"
    assert location_label({"lines": [3, 40]}) == "lines 3–40"
    assert location_label({"lines": [7, 7]}) == "line 7"
    assert location_label({"rows": [2, 41]}) == "rows 2–41"
    assert location_label({"section": ""}) == ""
    assert citation_label("report.pdf", {"page": 12}) == "report.pdf, p. 12"
    assert citation_label("notes.md", {"section": ""}) == "notes.md"


def test_budget_is_what_the_prompt_leaves():
    assert documents_budget(16384, 3000) == 16384 - output_reserve(16384) - 3000
    assert documents_budget(16384, 3000, reserve=1000) == 12384
    assert documents_budget(2048, 5000) == 0


def test_no_documents_no_block():
    plan = plan_context([], 5000)
    assert (plan.text, plan.tokens, plan.documents, plan.passages) == ("", 0, (), ())
    assert plan.complete


def test_whole_when_it_fits_with_every_page_cited():
    doc = pdf(1, "report.pdf", pages=3)
    plan = plan_context([doc], budget=2000)
    [entry] = plan.documents
    assert (entry.mode, entry.shown, entry.note, entry.chunks_used) == ("whole", "whole", "", 6)
    assert plan.complete
    # Chunks of one page merge into one passage; each page has its key.
    assert [(p.key, p.label, p.chunk_ids) for p in plan.passages] == [
        (1, "report.pdf, p. 1", (1000, 1001)), (2, "report.pdf, p. 2", (1002, 1003)),
        (3, "report.pdf, p. 3", (1004, 1005))]
    assert plan.text.startswith(INTRO + "\n\n[1] report.pdf, p. 1\np1c0 ")
    assert "\n\n[3] report.pdf, p. 3\np3c4 " in plan.text
    assert plan.tokens == estimate_tokens(plan.text) <= plan.budget


def test_passages_when_too_long_best_scores_in_document_order():
    doc = pdf(1, "report.pdf", pages=140, scores={7: 9.0, 100: 3.0, 50: 5.0, 2: 0.5})
    plan = plan_context([doc], budget=400)
    [entry] = plan.documents
    assert entry.mode == "passages"
    used = [cid - 1000 for p in plan.passages for cid in p.chunk_ids]
    assert used == [7, 50, 100]  # the three best that fit, in document order
    assert [p.label for p in plan.passages] == [
        "report.pdf, p. 4", "report.pdf, p. 26", "report.pdf, p. 51"]
    assert [p.key for p in plan.passages] == [1, 2, 3]
    assert (entry.chunks_used, entry.chunks_total, entry.pages_used, entry.pages_total) == (
        3, 280, 3, 140)
    assert entry.shown == "3 of 140 pages"
    assert entry.note == ("Note: report.pdf is too long to include whole. Shown: 3 of its 140 "
                          "pages, the passages that best match the question.")
    assert entry.note in plan.text
    assert plan.tokens <= 400 and not plan.complete


def test_nothing_matched_shows_the_beginning():
    doc = PlanDocument(1, "notes.md", [
        PlanChunk(seq, seq, f"chunk {seq}", {"section": f"S{seq}"}, tokens=100)
        for seq in range(57)])
    plan = plan_context([doc], budget=400)
    [entry] = plan.documents
    assert [p.chunk_ids for p in plan.passages] == [(0,), (1,), (2,)]
    assert entry.shown == "3 of 57 passages"
    assert entry.note.endswith("Shown: 3 of its 57 passages, its beginning, as no passage "
                               "matched the question's words.")


def test_no_room_is_recorded_not_hidden():
    doc = pdf(1, "big.pdf", pages=10, tokens=500)
    plan = plan_context([doc], budget=120)
    [entry] = plan.documents
    assert (entry.mode, entry.shown, entry.chunks_used, entry.tokens) == ("none", "nothing", 0, 0)
    assert entry.note == "Note: big.pdf is left out: there is no room for it in the context."
    assert plan.text == "" and plan.passages == ()
    assert plan_context([doc], budget=0).documents[0].mode == "none"


def test_small_documents_whole_and_the_big_one_in_passages():
    small = PlanDocument(1, "a.txt", [PlanChunk(1, 0, "alpha", {"lines": [1, 3]}, tokens=50)])
    medium = PlanDocument(2, "b.md", [
        PlanChunk(20 + s, s, f"beta {s}", {"section": "B"}, tokens=100) for s in range(3)])
    big = pdf(3, "c.pdf", pages=100, scores={150: 2.0, 10: 1.0})
    plan = plan_context([big, small, medium], budget=1200)
    modes = {d.name: d.mode for d in plan.documents}
    assert modes == {"c.pdf": "passages", "a.txt": "whole", "b.md": "whole"}
    # Keys follow the documents' order as given (attachment order).
    assert [p.label for p in plan.passages] == [
        "c.pdf, p. 6", "c.pdf, p. 76", "a.txt, lines 1–3", "b.md, B"]
    assert plan.passages[3].chunk_ids == (20, 21, 22)  # one section: one passage
    assert plan.tokens <= 1200


def test_matched_passages_come_before_unmatched_documents_beginnings():
    matched = pdf(1, "m.pdf", pages=50, scores={40: 1.0, 41: 0.9})
    unmatched = pdf(2, "u.pdf", pages=50)
    plan = plan_context([matched, unmatched], budget=500)
    assert [p.label for p in plan.passages] == ["m.pdf, p. 21", "u.pdf, p. 1"]
    assert plan.passages[0].chunk_ids == (1040, 1041)
    assert [d.shown for d in plan.documents] == ["1 of 50 pages", "1 of 50 pages"]


def test_lines_merge_and_overlap_is_not_repeated():
    doc = PlanDocument(1, "main.py", [
        PlanChunk(1, 0, "line one\nline two", {"lines": [1, 2]}),
        PlanChunk(2, 1, "line two\nline three", {"lines": [2, 3]}, overlap=8),
        PlanChunk(3, 2, "| h |\n| 4 |", {"lines": [4, 4]}, overlap=5),
    ])
    plan = plan_context([doc], budget=1000)
    [passage] = plan.passages
    assert passage.label == "main.py, lines 1–4"
    assert passage.text == "line one\nline two\nline three\n| 4 |"


def test_exact_counts_are_used_and_counting_stops_early():
    counted: list[str] = []

    def count(text: str) -> int:
        counted.append(text)
        return len(text)  # a tokenizer four times as hungry as the estimate

    doc = PlanDocument(1, "book.txt", [
        PlanChunk(seq, seq, "x" * 400, {"lines": [seq + 1, seq + 1]},
                  score=1.0 if seq == 999 else 0.0)
        for seq in range(1000)])
    plan = plan_context([doc], budget=1000, count=count)
    assert [p.chunk_ids for p in plan.passages] == [(999,)]
    assert plan.tokens == len(plan.text) <= 1000
    assert len([t for t in counted if t == "x" * 400]) == 1  # memoised: counted once
    assert len(counted) < 20  # not the whole book


def test_as_dict_is_json():
    doc = pdf(1, "report.pdf", pages=20, scores={5: 1.0})
    data = json.loads(json.dumps(plan_context([doc], budget=300).as_dict()))
    assert data["budget"] == 300 and data["documents"][0]["mode"] == "passages"
    assert data["passages"][0] == {"key": 1, "document_id": 1, "label": "report.pdf, p. 3",
                                   "location": {"page": 3}, "chunk_ids": [1005], "score": 1.0}
    assert data["text"].startswith(INTRO)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(1, 700), min_size=1, max_size=40), min_size=1,
                   max_size=5),
    scores=st.lists(st.floats(0, 10), max_size=200),
    budget=st.integers(-50, 6000),
)
def test_never_over_budget_and_every_document_accounted_for(sizes, scores, budget):
    documents, index = [], 0
    for doc_id, chunk_tokens in enumerate(sizes):
        chunks = []
        for seq, tokens in enumerate(chunk_tokens):
            score = scores[index] if index < len(scores) else 0.0
            chunks.append(PlanChunk(index, seq, "t" * (tokens * 4), {"page": seq // 3 + 1},
                                    score=score))
            index += 1
        documents.append(PlanDocument(doc_id, f"d{doc_id}.pdf", chunks, pages=len(chunks) // 3 + 1))
    plan = plan_context(documents, budget)
    assert plan.tokens <= max(budget, 0)
    assert [d.document_id for d in plan.documents] == list(range(len(sizes)))
    shown = {cid for p in plan.passages for cid in p.chunk_ids}
    for entry, doc in zip(plan.documents, documents):
        used = {c.id for c in doc.chunks} & shown
        assert entry.chunks_used == len(used)
        assert (entry.mode == "whole") == (len(used) == len(doc.chunks))
        assert (entry.mode == "none") == (not used)
        assert (entry.note == "") == (entry.mode == "whole")
    assert [p.key for p in plan.passages] == list(range(1, len(plan.passages) + 1))
