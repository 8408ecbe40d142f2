"""Chunking: sizes, boundaries that follow pages and sections, exact line ranges, and an
overlap that can be undone."""

from __future__ import annotations

from itertools import pairwise

from fixtures.documents import (
    FACT,
    FACT_PAGE,
    filler,
    report_pages,
    write_docx,
    write_pdf,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.documents import Extracted, Location, Unit, chunk, estimate_tokens, extract
from common.units import CHARS_PER_TOKEN
from storage.documents.chunk import MAX_TOKENS, MIN_TOKENS


def rejoin(chunks) -> str:
    """The unit's text back from its chunks, overlaps dropped."""
    text = chunks[0].text
    for c in chunks[1:]:
        rest = c.text[c.overlap:]
        text += rest if rest[:1].isspace() else "\n" + rest
    return text


def test_pdf_chunks_stay_on_their_page(tmp_path):
    pages = report_pages(6, {FACT_PAGE: FACT}, sentences=45)  # ~1.5 chunks a page
    chunks = chunk(extract(write_pdf(tmp_path / "r.pdf", pages)))
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    by_page: dict[int, list] = {}
    for c in chunks:
        by_page.setdefault(c.location.page, []).append(c)
    assert sorted(by_page) == [1, 2, 3, 4, 5, 6]
    assert all(len(group) >= 2 for group in by_page.values())
    for group in by_page.values():
        assert group[0].overlap == 0  # never overlapping across a page
        assert all(c.overlap > 0 for c in group[1:])
    assert [c.location.page for c in chunks if "47.3 percent" in c.text] == [FACT_PAGE]
    assert all(c.approx_tokens == estimate_tokens(c.text) <= MAX_TOKENS for c in chunks)


def test_docx_chunks_follow_sections(tmp_path):
    chunks = chunk(extract(write_docx(tmp_path / "m.docx")))
    assert [c.location.section for c in chunks] == [
        "", "Introduction", "Introduction › Setup", "Supplies"]
    assert "| Rope | 2 | 1.5 kg |" in chunks[-1].text


def test_long_prose_is_cut_at_sentences_within_bounds():
    text = "\n\n".join(filler(seed, sentences=12) for seed in range(40))
    unit = Unit(text, Location(section="Body"))
    chunks = chunk(Extracted((unit,), None, "markdown"))
    assert len(chunks) > 5
    for c in chunks[:-1]:
        assert MIN_TOKENS * CHARS_PER_TOKEN <= len(c.text) <= MAX_TOKENS * CHARS_PER_TOKEN
        assert c.text.endswith(".")  # a paragraph or sentence end, never mid-word
        assert c.location == Location(section="Body")
    assert all(0 < c.overlap <= 50 * CHARS_PER_TOKEN for c in chunks[1:])
    for before, after in pairwise(chunks):
        assert before.text.endswith(after.text[:after.overlap])
    assert rejoin(chunks) == text


def test_code_chunks_carry_exact_line_ranges():
    lines = [f"def function_{i}(argument):  # line {i + 1}" for i in range(400)]
    text = "\n".join(lines)
    chunks = chunk(Extracted((Unit(text, Location(lines=(1, 400))),), None, "code"))
    assert len(chunks) > 3
    for c in chunks:
        first, last = c.location.lines
        assert c.text.split("\n") == lines[first - 1:last]
    assert chunks[0].location.lines[0] == 1 and chunks[-1].location.lines[1] == 400
    assert rejoin(chunks) == text


def test_csv_chunks_repeat_the_header_and_number_rows(tmp_path):
    path = tmp_path / "people.csv"
    rows = [f"person{i},{1900 + i},city number {i}" for i in range(1, 301)]
    path.write_text("name,born,home\n" + "\n".join(rows) + "\n")
    chunks = chunk(extract(path))
    header = "| name | born | home |\n| --- | --- | --- |"
    assert len(chunks) > 3
    assert all(c.text.startswith(header + "\n") for c in chunks)
    assert chunks[0].overlap == 0 and all(c.overlap == len(header) for c in chunks[1:])
    for c in chunks:
        first, last = c.location.rows
        shown = c.text[len(header) + 1:].split("\n")
        assert shown[0] == f"| person{first - 1} | {1899 + first} | city number {first - 1} |"
        assert len(shown) == last - first + 1
    assert chunks[0].location.rows[0] == 2 and chunks[-1].location.rows[1] == 301
    assert all(a.location.rows[1] + 1 == b.location.rows[0] for a, b in pairwise(chunks))


def test_a_word_longer_than_a_chunk_is_cut_hard():
    unit = Unit("x" * 5000, Location(lines=(1, 1)))
    chunks = chunk(Extracted((unit,), None, "text"))
    assert "".join(c.text for c in chunks) == "x" * 5000
    assert all(c.location == Location(lines=(1, 1)) for c in chunks)


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .\n\t!é日"), max_size=6000))
def test_any_text_is_covered_without_loss(text):
    unit = Unit(text, Location(lines=(1, text.count("\n") + 1)))
    chunks = chunk(Extracted((unit,), None, "text"))
    assert "".join(text.split()) == "".join("".join(c.text[c.overlap:].split()) for c in chunks)
    assert all(c.text.strip() and len(c.text) <= MAX_TOKENS * CHARS_PER_TOKEN for c in chunks)
