"""PDF: one unit per page, through PDFium (pypdfium2), the engine Chrome uses.

PDFium is not thread-safe, not even across different documents, so one lock serialises
every call into it in this process; ingestion runs on a worker pool and two PDFs added
at once simply take turns.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from .units import DocumentError, Extracted, Location, Unit

_PDFIUM = threading.Lock()
# Control characters PDFium emits for hyphenation and unmapped glyphs; tabs and newlines
# survive.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffe\uffff]")
_PLACEHOLDER_TITLES = {"", "untitled"}


def read_pdf(path: Path, name: str) -> Extracted:
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
                raise DocumentError(
                    f"{name} is protected by a password. Save a copy without the password "
                    "(for example with “Print to PDF”) and attach that."
                ) from exc
            raise DocumentError(f"{name} is not a valid PDF, or it is damaged.") from exc
        try:
            pages = len(pdf)
            units = []
            for index in range(pages):
                text = _page_text(pdf, index)
                if text:
                    units.append(Unit(text, Location(page=index + 1)))
            title = str(pdf.get_metadata_dict().get("Title") or "").strip()
        finally:
            pdf.close()
    if not units:
        if pages == 0:
            raise DocumentError(f"{name} has no pages.")
        raise DocumentError(
            f"{name} has no text layer — it looks scanned; Hearth does not do OCR."
        )
    warnings: tuple[str, ...] = ()
    if len(units) < pages:
        skipped = pages - len(units)
        note = f"{skipped} of {pages} pages have no text layer (scanned images?) and were left out."
        warnings = (note,)
    title_or_none = None if title.lower() in _PLACEHOLDER_TITLES else title
    return Extracted(tuple(units), title_or_none, "pdf", pages, warnings)


def _page_text(pdf: object, index: int) -> str:
    page = pdf[index]  # type: ignore[index]
    try:
        textpage = page.get_textpage()
        try:
            raw = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    text = _CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
