"""Extraction from real files the tests write: text, locations, titles, and a clear
DocumentError for every kind of file Hearth cannot read."""

from __future__ import annotations

import importlib
import os
import zipfile

import pytest
from fixtures.documents import (
    FACT,
    FACT_PAGE,
    report_pages,
    write_docx,
    write_pdf,
    write_scanned_pdf,
    write_zip_bomb_docx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.documents import DocumentError, Location, extract, zip_parts

# The module, not the function the package exports under the same name.
extract_module = importlib.import_module("storage.documents.extract")


def test_pdf_pages_are_units_with_page_numbers(tmp_path):
    path = write_pdf(tmp_path / "report.pdf", report_pages(6, {FACT_PAGE: FACT}),
                     title="Turbine report")
    doc = extract(path)
    assert (doc.kind, doc.pages, doc.title, doc.warnings) == ("pdf", 6, "Turbine report", ())
    assert [u.location for u in doc.units] == [Location(page=n) for n in range(1, 7)]
    assert [u.location.page for u in doc.units if "47.3 percent" in u.text] == [FACT_PAGE]
    assert "\r" not in doc.units[0].text and doc.chars == sum(len(u.text) for u in doc.units)


def test_pdf_pages_without_text_are_counted_and_reported(tmp_path):
    path = write_pdf(tmp_path / "gaps.pdf", ["First page words.", "", "Third page words."])
    doc = extract(path)
    assert doc.pages == 3
    assert [u.location.page for u in doc.units] == [1, 3]
    assert doc.warnings == ("1 of 3 pages have no text layer (scanned images?) and were left out.",)


def test_docx_headings_become_sections_and_tables_rows(tmp_path):
    doc = extract(write_docx(tmp_path / "manual.docx"))
    assert (doc.kind, doc.title, doc.pages) == ("docx", "Field Manual", None)
    sections = {u.location.section: u.text for u in doc.units}
    assert list(sections) == ["", "Introduction", "Introduction › Setup", "Supplies"]
    assert "Read this before the first expedition." in sections[""]
    assert sections["Introduction › Setup"].startswith("## Setup")
    assert "- Stake the corners first" in sections["Introduction › Setup"]
    assert "| Item | Count | Weight |\n| --- | --- | --- |\n| Rope | 2 | 1.5 kg |" in (
        sections["Supplies"])


HTML = """<!DOCTYPE html>
<html><head><title>Camp Guide</title><meta charset="utf-8">
<style>body { color: red }</style><script>var tracking = "SCRIPTTEXT";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/shop">NAVTEXT</a></nav>
<h1>Camp Guide</h1><p>Welcome to the <b>guide</b>.<!-- a comment --> Tail after comment.</p>
<h2>Water</h2><p>Boil water for<br>one minute.</p>
<ul><li>Filter first</li><li>Then boil</li></ul>
<table><tr><th>Source</th><th>Safe</th></tr><tr><td>Spring</td><td>Mostly</td></tr></table>
<div hidden>HIDDENTEXT</div><aside>ASIDETEXT</aside>
<pre>  indented
    code</pre>
<h2>Fire</h2><p>Keep it small.</p><script>more("SCRIPTTEXT")</script>
</body></html>"""


def test_html_visible_text_by_heading(tmp_path):
    path = tmp_path / "guide.html"
    path.write_text(HTML, encoding="utf-8")
    doc = extract(path)
    assert (doc.kind, doc.title) == ("html", "Camp Guide")
    everything = "\n".join(u.text for u in doc.units)
    for hidden in ("SCRIPTTEXT", "NAVTEXT", "HIDDENTEXT", "ASIDETEXT", "color: red"):
        assert hidden not in everything
    sections = {u.location.section: u.text for u in doc.units}
    assert list(sections) == ["Camp Guide", "Camp Guide › Water", "Camp Guide › Fire"]
    assert "Welcome to the guide. Tail after comment." in sections["Camp Guide"]
    water = sections["Camp Guide › Water"]
    assert "Boil water for\none minute." in water
    assert "- Filter first\n- Then boil" in water
    assert "| Source | Safe |" in water and "| Spring | Mostly |" in water
    assert "  indented\n    code" in water


def test_html_declared_charset_and_deep_nesting(tmp_path):
    path = tmp_path / "old.htm"
    start = b'<meta charset="windows-1252"><p>Caf\xe9 cr\xe8me</p>'
    path.write_bytes(start + b"<div>" * 1000 + b"deep" + b"</div>" * 1000)
    doc = extract(path)
    text = "\n".join(u.text for u in doc.units)
    assert "Café crème" in text and "deep" in text and doc.warnings == ()
    path.write_bytes(start + b"<div>" * 5000 + b"deeper" + b"</div>" * 5000 + b"<p>after</p>")
    doc = extract(path)  # past libxml2's 2,048 levels: read again without a tree
    assert [u.text for u in doc.units] == ["Café crème\ndeeper\nafter"]
    assert doc.warnings == ("The page is nested too deeply to keep its layout; its text was "
                            "read as plain lines, without headings or tables.",)


MARKDOWN = """---
title: Notes
---
Preface line.

# Intro
Some words.

```python
# not a heading
```

Setup
-----
Install it.

## Deep
### Deeper
Text.
# Second
Last.
"""


def test_markdown_sections_follow_the_outline(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = extract(path)
    assert (doc.kind, doc.title) == ("markdown", "Intro")
    sections = [u.location.section for u in doc.units]
    assert sections == ["", "Intro", "Intro › Setup", "Intro › Deep", "Intro › Deep › Deeper",
                        "Second"]
    assert "title: Notes" in doc.units[0].text and "Preface line." in doc.units[0].text
    assert "# not a heading" in doc.units[1].text
    assert doc.units[2].text.startswith("Setup\n-----")


@pytest.mark.parametrize("encoding, text", [
    ("cp1252", "Café crème brûlée — naïve façade, déjà vu.\nDer Bär läuft über die Straße.\n"),
    ("shift_jis", "日本語のテキストです。\n東京は日本の首都です。\n"),
    ("utf-16", "Grüße aus Köln\nzweite Zeile\n"),
    ("utf-8-sig", "BOM first line\nsecond\n"),
])
def test_text_encodings_are_detected(tmp_path, encoding, text):
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    doc = extract(path)
    assert doc.kind == "text"
    assert [(u.text, u.location) for u in doc.units] == [(text, Location(lines=(1, 2)))]


def test_code_is_one_unit_with_its_line_range(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text("def main():\n    return 1\n\n\nmain()", encoding="utf-8")
    doc = extract(path)
    assert doc.kind == "code"
    assert doc.units[0].location == Location(lines=(1, 5))
    makefile = tmp_path / "Makefile"
    makefile.write_text("all:\n\ttrue\n")
    assert extract(makefile).kind == "code"


def test_csv_rows_with_header_kept_aside(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('city;population;note\nOslo;700000;"capital,\nnorth"\n\nBergen;285000;|pipe|\n',
                    encoding="utf-8")
    doc = extract(path)
    [unit] = doc.units
    assert unit.header == "| city | population | note |\n| --- | --- | --- |"
    assert unit.text.split("\n") == ["| Oslo | 700000 | capital, north |", "| |",
                                     "| Bergen | 285000 | \\|pipe\\| |"]
    assert unit.location == Location(rows=(2, 4))
    tsv = tmp_path / "data.tsv"
    tsv.write_text("a\tb\n1\t2\n")
    assert extract(tsv).units[0].text == "| 1 | 2 |"


def test_unknown_extension_is_sniffed(tmp_path):
    pdf = write_pdf(tmp_path / "scan-0001", ["Sniffed by its header."])
    assert extract(pdf).kind == "pdf"
    notes = tmp_path / "README"
    notes.write_text("Plain words here.\n")
    assert extract(notes).kind == "text"


# --- files Hearth refuses, each with its own message --------------------------------


def refusal(path) -> str:
    with pytest.raises(DocumentError) as caught:
        extract(path)
    return str(caught.value)


def test_encrypted_pdf(tmp_path):
    path = write_pdf(tmp_path / "locked.pdf", ["Secret"], password="hunter2")
    assert "locked.pdf is protected by a password" in refusal(path)


def test_scanned_pdf(tmp_path):
    message = refusal(write_scanned_pdf(tmp_path / "scan.pdf"))
    assert message == "scan.pdf has no text layer — it looks scanned; Hearth does not do OCR."


def test_binary_file(tmp_path):
    path = tmp_path / "photo.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000))
    assert refusal(path).startswith("photo.bin is not a document Hearth can read. Hearth reads PDF")
    exe = tmp_path / "tool.txt"
    exe.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" * 100)
    assert "tool.txt is not a document Hearth can read" in refusal(exe)


def test_undecodable_text(tmp_path):
    path = tmp_path / "mystery.txt"
    path.write_bytes(bytes(range(0x80, 0x100)) * 8)
    assert refusal(path) == ("Hearth could not work out the text encoding of mystery.txt. "
                             "Save it as UTF-8 and attach it again.")


def test_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(extract_module, "MAX_FILE_BYTES", 1_000_000)
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 300_000)  # 1.5 MB
    assert refusal(path) == "big.txt is 1.5 MB; Hearth reads documents up to 1 MB."


def test_zip_bomb_docx_by_ratio(tmp_path):
    path = write_zip_bomb_docx(tmp_path / "bomb.docx", 64 * 1024 * 1024)
    assert os.path.getsize(path) < 1024 * 1024
    message = refusal(path)
    assert message.startswith("bomb.docx is compressed ") and "It may be a zip bomb" in message


def test_zip_bomb_docx_by_size(tmp_path, monkeypatch):
    monkeypatch.setattr(zip_parts, "MAX_UNCOMPRESSED_BYTES", 8_000_000)
    path = write_zip_bomb_docx(tmp_path / "huge.docx", 16_000_000)
    assert refusal(path) == ("huge.docx would unpack to 15.7 MB, more than the 8 MB Hearth allows "
                             "for a Word document. It may be a zip bomb; Hearth did not open it.")


def test_other_refusals(tmp_path):
    assert refusal(tmp_path / "gone.pdf") == "gone.pdf was not found; was it moved or deleted?"
    (tmp_path / "folder.txt").mkdir()
    assert refusal(tmp_path / "folder.txt") == "folder.txt is a folder, not a document."
    if hasattr(os, "mkfifo"):  # not on Windows
        os.mkfifo(tmp_path / "pipe.txt")
        assert refusal(tmp_path / "pipe.txt") == "pipe.txt is not a file Hearth can read."
    (tmp_path / "empty.txt").write_bytes(b"")
    assert refusal(tmp_path / "empty.txt") == "empty.txt contains no text."
    (tmp_path / "fake.pdf").write_bytes(b"hello, not really a pdf")
    assert refusal(tmp_path / "fake.pdf") == "fake.pdf is not a valid PDF, or it is damaged."
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    assert "old.doc is an older Office file (such as .doc) or is protected by a password" in (
        refusal(tmp_path / "old.doc"))
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    assert refusal(tmp_path / "broken.docx") == (
        "broken.docx is not a valid Word document (.docx), or it is damaged.")
    with zipfile.ZipFile(tmp_path / "archive.docx", "w") as archive:
        archive.writestr("notes.txt", "a zip, not a Word file")
    assert refusal(tmp_path / "archive.docx").startswith(
        "archive.docx is not a document Hearth can read")
    with zipfile.ZipFile(tmp_path / "mangled.docx", "w") as archive:
        archive.writestr("word/document.xml", "<w:document>not even XML")
    assert refusal(tmp_path / "mangled.docx") == "mangled.docx could not be read; it looks damaged."


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000),
       suffix=st.sampled_from([".txt", ".md", ".html", ".csv", ".py", ".pdf", ".docx", ""]))
def test_odd_input_never_crashes(tmp_path, data, suffix):
    path = tmp_path / f"odd{suffix}"
    path.write_bytes(data)
    try:
        doc = extract(path)
    except DocumentError as exc:
        assert str(exc)
    else:
        assert doc.units and all(isinstance(u.text, str) for u in doc.units)
