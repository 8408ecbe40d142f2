"""Hostile documents (tests/fixtures/hostile_files.py writes them): each ends in one clear
line, in bounded time and memory, and never in another exception. The bombs run in a child
process with its address space capped (run_limited), so a regression fails the test
instead of exhausting the machine."""

from __future__ import annotations

import os
import re
import zipfile

import pytest
from fixtures import hostile_files as hostile

from app.core.documents import ingest
from storage.documents import DocumentError, extract, zip_parts

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refusal(path) -> str:
    with pytest.raises(DocumentError) as caught:
        extract(path)
    return str(caught.value)


def extract_in_child(path, memory: int = hostile.MEMORY_LIMIT):
    """extract(path) in a capped child: its one line of output, and its peak RSS in MB."""
    code = (
        "from storage.documents import DocumentError, extract\n"
        "try:\n"
        f"    doc = extract({str(path)!r})\n"
        "    print('read', doc.chars, 'chars')\n"
        "except DocumentError as exc:\n"
        "    print(exc)\n"
        # VmHWM, not ru_maxrss: on Linux that keeps the forked parent's size across exec.
        "status = open('/proc/self/status').read()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) // 1024)\n"
    )
    result = hostile.run_limited(code, memory=memory)
    assert result.returncode == 0, result.stderr[-2000:]
    message, peak = result.stdout.strip().split("\n")
    return message, int(peak)


def test_a_docx_whose_zip_lies_about_sizes_is_refused_without_inflating_it(tmp_path):
    path = hostile.lying_docx(tmp_path)  # 2 MB that inflate to 2 GB, declaring 1 kB
    assert path.stat().st_size < 3_000_000
    message, peak_mb = extract_in_child(path)
    assert message == ("lying.docx is damaged: a part of it does not match its checksum or "
                       "the size it states.")
    assert peak_mb < 300  # before: 1 GB, then MemoryError at the 2 GB cap


def test_a_part_that_inflates_past_the_limit_is_stopped_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "spaces.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.xml", b" " * 3_000_000)
    monkeypatch.setattr(zip_parts, "MAX_UNCOMPRESSED_BYTES", 1_000_000)
    inflated = 0
    with zipfile.ZipFile(path) as archive, pytest.raises(DocumentError) as caught:
        for chunk in zip_parts.stream_part(archive, "big.xml", zip_parts.Budget(path, "s.docx")):
            inflated += len(chunk)
    assert inflated <= 1_000_000 + zip_parts.CHUNK_BYTES
    assert str(caught.value) == ("s.docx unpacks to more than 1 MB, more than Hearth allows for "
                                 "a Word document. It may be a zip bomb; Hearth did not read it.")


def test_a_docx_listing_400k_parts_is_refused_before_its_directory_is_parsed(tmp_path):
    path = hostile.many_parts_docx(tmp_path)
    message, peak_mb = extract_in_child(path)
    assert message == ("many-parts.docx lists far more parts than a Word document has (a "
                       "directory of 25.2 MB); Hearth did not open it.")
    assert peak_mb < 150  # before: 240 MB and 5 s, then read as if nothing were wrong


def test_a_large_honest_docx_is_read_in_memory_near_its_text_size(tmp_path):
    path = hostile.big_docx(tmp_path / "long-report.docx", 40)  # 40 MB of body XML
    message, peak_mb = extract_in_child(path)
    chars = int(message.split()[1])
    assert chars > 30_000_000
    # The text itself is ~33 MB (ASCII); python-docx's tree of the body alone took ~10x.
    assert peak_mb < 60 + 4 * chars / 1e6


def test_docx_parts_nested_100k_deep_or_with_an_entity_bomb(tmp_path):
    assert [u.text for u in extract(hostile.deep_xml_docx(tmp_path)).units] == ["deep"]
    assert refusal(hostile.entity_bomb_docx(tmp_path)) == \
        "laughs.docx could not be read; it looks damaged."


def test_a_csv_with_a_200_kb_field_is_read(tmp_path):
    doc = extract(hostile.wide_field_csv(tmp_path))  # before: "it looks damaged"
    [unit] = doc.units
    assert unit.header.startswith("| id | notes |")
    assert unit.location.rows == (2, 3) and len(unit.text) > 199_000
    assert unit.text.endswith("| 2 | short |")


def test_html_nested_100k_deep_is_read_as_plain_lines_and_says_so(tmp_path):
    doc = extract(hostile.deep_html(tmp_path))  # before: only the text above the pit
    assert doc.units[0].text.split("\n") == ["Deep page", "Before the pit.",
                                             "Bottom of the pit.", "After the pit."]
    assert doc.warnings == ("The page is nested too deeply to keep its layout; its text was "
                            "read as plain lines, without headings or tables.",)


def test_flat_html_reading_keeps_scripts_and_comments_out_even_unclosed(tmp_path):
    path = tmp_path / "soup.html"
    path.write_text("<div>" * 3000 + "<p>One<script>var x = '<p>no</p>';</script> two"
                    "<!-- hidden --> &amp; three<td>cell</td><style>p{}</style>"
                    "<b>four</b><!-- never closed <p>gone", encoding="utf-8")
    assert extract(path).units[0].text == "One two & three cell four"


def test_a_file_name_that_is_not_utf8_is_attached_under_a_readable_name(store, tmp_path):
    path = hostile.undecodable_name(tmp_path)
    assert os.fsencode(path).endswith(b"/\xff\xfe notes.txt")
    document = ingest(store, path)  # before: UnicodeEncodeError from SQLite
    assert document.name == "\\xff\\xfe notes.txt"
    assert store.documents.get(document.id).name == "\\xff\\xfe notes.txt"
    assert "Notes under an odd name." in store.documents.chunks(document.id)[0].text
    assert extract(path).units[0].text == "Notes under an odd name.\n"
    os.unlink(path)
    assert refusal(path) == "\\xff\\xfe notes.txt was not found; was it moved or deleted?"


def test_terminal_escapes_in_a_file_name_never_reach_a_message(store, tmp_path):
    path = hostile.escape_name(tmp_path)
    shown = "\\x1b[2J\\x1b[31mred\\x07\\x0dok.bin"
    assert refusal(path) == f"{shown} is not a document Hearth can read. Hearth reads PDF, " \
                            "Word (.docx), HTML, Markdown, CSV, and plain text or source code."
    with pytest.raises(DocumentError) as caught:
        ingest(store, path)
    assert not CONTROL.search(str(caught.value))
    missing = tmp_path / "\x1b]0;title\x07gone.pdf"
    assert refusal(missing) == "\\x1b]0;title\\x07gone.pdf was not found; was it moved or deleted?"
    text = tmp_path / "\x1b[1mbold.txt"
    text.write_text("Fine text.\n")
    assert ingest(store, text).name == "\\x1b[1mbold.txt"  # stored safe, listed safe
