"""Word .docx: paragraphs into heading sections, tables as Markdown-style rows.

A .docx is a zip archive, and python-docx inflates its parts in memory, so the archive
is vetted first: a tiny file that would unpack to gigabytes (a zip bomb) is refused
before anything is inflated.  The sizes checked are the ones the archive declares;
Python's zipfile never inflates an entry past its declared size (a lying entry fails
its CRC check instead), so the declared total bounds the memory used.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from common.units import format_bytes

from .read_text import not_readable
from .sections import SectionBuilder
from .units import DocumentError, Extracted

MAX_UNCOMPRESSED_BYTES = 500_000_000
MAX_COMPRESSION_RATIO = 50
# Below this many unpacked bytes even an extreme ratio is harmless, and small documents
# full of repeated markup can legitimately compress very well.
RATIO_CHECK_FROM_BYTES = 10 * 1024 * 1024
_MAIN_PART = "word/document.xml"


def check_archive(path: Path, name: str) -> None:
    """DocumentError unless ``path`` is a zip holding a Word document of sane size."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise DocumentError(f"{name} is not a valid Word document (.docx), or it is damaged.") \
            from exc
    if _MAIN_PART not in {entry.filename for entry in entries}:
        raise not_readable(name)
    unpacked = sum(entry.file_size for entry in entries)
    packed = max(1, os.path.getsize(path))
    if unpacked > MAX_UNCOMPRESSED_BYTES:
        raise DocumentError(
            f"{name} would unpack to {format_bytes(unpacked)}, more than the "
            f"{format_bytes(MAX_UNCOMPRESSED_BYTES)} Hearth allows for a Word document. "
            "It may be a zip bomb; Hearth did not open it."
        )
    if unpacked > RATIO_CHECK_FROM_BYTES and unpacked > MAX_COMPRESSION_RATIO * packed:
        raise DocumentError(
            f"{name} is compressed {unpacked // packed:,}×, far more than a real Word "
            f"document (Hearth allows {MAX_COMPRESSION_RATIO}×). It may be a zip bomb; "
            "Hearth did not open it."
        )


def read_docx(path: Path, name: str) -> Extracted:
    import docx
    from docx.table import Table

    check_archive(path, name)
    document = docx.Document(str(path))
    builder = SectionBuilder()
    title = (document.core_properties.title or "").strip() or None
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            builder.blank()
            for row in _table_rows(block):
                builder.line(row)
            builder.blank()
            continue
        text = block.text.strip()
        if not text:
            builder.blank()
            continue
        style = _style_names(block)
        level = _heading_level(style)
        if level is not None:
            builder.heading(level, text)
            continue
        if "Title" in style and title is None:
            title = text
        builder.line(f"- {text}" if any(s.startswith("List") for s in style) else text)
        builder.blank()
    return Extracted(tuple(builder.finish()), title or builder.first_heading, "docx")


def _style_names(paragraph: object) -> list[str]:
    """The paragraph's style and the styles it is based on: a custom "Chapter" style
    based on "Heading 1" is a heading too."""
    names: list[str] = []
    style = paragraph.style  # type: ignore[attr-defined]
    while style is not None and len(names) < 8:
        names.append(style.name or "")
        style = style.base_style
    return names


def _heading_level(style_names: list[str]) -> int | None:
    for style in style_names:
        prefix, _, number = style.partition(" ")
        if prefix == "Heading" and number.isdigit():
            return int(number)
    return None


def _table_rows(table: object) -> list[str]:
    rows: list[str] = []
    for index, row in enumerate(table.rows):  # type: ignore[attr-defined]
        cells, previous = [], None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is listed once per grid column
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()).replace("|", "\\|"))
        rows.append("| " + " | ".join(cells) + " |")
        if index == 0:
            rows.append("|" + " --- |" * len(cells))
    return rows
