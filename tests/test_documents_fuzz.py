"""Fuzzing each extractor: any bytes give an Extracted or a DocumentError, never another
exception, in bounded time. ``extract`` turns a parser's unexpected exception into "looks
damaged" and logs it; for the readers that are ours (text, CSV, Markdown, HTML, DOCX) the
log must stay empty too, since such an exception would be our bug hidden by the net."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from fixtures.documents import write_docx, write_pdf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.documents import DocumentError, Extracted, extract

# Generous per-example deadline for a loaded 2-core machine; ~10 s per test in all.
FUZZ = settings(max_examples=80, deadline=timedelta(seconds=5),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def check(path: Path, data: bytes, caplog: pytest.LogCaptureFixture, *, ours: bool = True
          ) -> None:
    path.write_bytes(data)
    caplog.clear()
    try:
        result = extract(path)
    except DocumentError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(result, Extracted) and result.units
        assert all(isinstance(unit.text, str) and unit.text for unit in result.units)
    if ours:
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING], \
            "an unexpected exception reached extract()'s safety net"


@cache
def _sample(kind: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        if kind == "docx":
            return write_docx(Path(folder) / "s.docx").read_bytes()
        return write_pdf(Path(folder) / "s.pdf", ["Fuzzed page one.", "Page two."],
                         title="Fuzz").read_bytes()


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few bytes overwritten, a stretch cut out or the tail cut off."""
    data = bytearray(original)
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data) - 1))
        del data[start:start + draw(st.integers(1, 512))]
    if draw(st.booleans()):
        del data[draw(st.integers(1, len(data))):]
    return bytes(data)


MARKUP = st.lists(st.sampled_from(list("<>/=\"'&;#!-[]()*_`|,;\t\n ab1é")
                                  + ["<div>", "</div>", "<p>", "<script>", "<!--", "-->",
                                     "# ", "```", "<h1>", "<td>", "&amp;", "\r\n", "---\n",
                                     "<div>" * 300, "> " * 30, "<b hidden>"]),
                  max_size=200).map("".join)


def _encoded(text_strategy):
    return st.one_of(st.binary(max_size=2000),
                     text_strategy.map(lambda t: t.encode("utf-8")),
                     text_strategy.map(lambda t: t.encode("utf-16")))


@FUZZ
@given(data=_encoded(st.text(max_size=500)))
def test_fuzz_text(tmp_path, caplog, data):
    check(tmp_path / "fuzz.txt", data, caplog)


@FUZZ
@given(data=_encoded(MARKUP))
def test_fuzz_markdown(tmp_path, caplog, data):
    check(tmp_path / "fuzz.md", data, caplog)


@FUZZ
@given(data=_encoded(MARKUP))
def test_fuzz_html(tmp_path, caplog, data):
    check(tmp_path / "fuzz.html", data, caplog)


@FUZZ
@given(data=_encoded(st.text(alphabet=st.sampled_from(list(',;\t|"\'\n\r ab1\x00')),
                             max_size=500)))
def test_fuzz_csv(tmp_path, caplog, data):
    check(tmp_path / "fuzz.csv", data, caplog)


@st.composite
def word_xml(draw: st.DrawFn) -> bytes:
    """A document.xml of Word elements in random nesting, well-formed or not."""
    tags = ["w:p", "w:r", "w:t", "w:tbl", "w:tr", "w:tc", "w:tab", "w:br", "w:pPr",
            "w:pStyle", "w:tcPr", "w:vMerge", "w:gridSpan", "w:del", "w:sdt", "w:txbxContent"]
    parts = []
    for _ in range(draw(st.integers(0, 40))):
        tag = draw(st.sampled_from(tags))
        parts.append(draw(st.sampled_from([f"<{tag}>", f"</{tag}>", f"<{tag}/>",
                                           f'<{tag} w:val="{draw(st.text(max_size=4))}"/>',
                                           draw(st.text(max_size=10)).replace("<", "")])))
    body = "".join(parts)
    return ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>").encode()


@st.composite
def docx_bytes(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(mutated(_sample("docx")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", draw(word_xml()))
        if draw(st.booleans()):
            archive.writestr("word/styles.xml", draw(word_xml()))
    return out.getvalue()


@FUZZ
@given(data=docx_bytes())
def test_fuzz_docx(tmp_path, caplog, data):
    check(tmp_path / "fuzz.docx", data, caplog)


@settings(FUZZ, max_examples=60)
@given(data=st.one_of(mutated(_sample("pdf")), st.binary(max_size=2000)))
def test_fuzz_pdf(tmp_path, caplog, data):
    # PDFium is not ours: what it raises on a broken file is reported, and may be logged.
    check(tmp_path / "fuzz.pdf", data, caplog, ours=False)
