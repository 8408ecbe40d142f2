"""A PDF the browser opened, as text: the document extractor's reading (PDFium), page by page."""

from __future__ import annotations

import tempfile
from pathlib import Path

from storage.documents.read_pdf import read_pdf
from storage.documents.units import DocumentError

from .base import ToolError


def pdf_text(body: bytes, name: str, truncated: bool) -> tuple[str, str]:
    """(title, text) of a PDF; PDFium reads from a file, so the bytes go to a temporary one."""
    if truncated:  # a PDF's index is at its end: a cut one cannot be read
        raise ToolError("the PDF is larger than the browser's size limit")
    with tempfile.TemporaryDirectory(prefix="hearth-browser-") as folder:
        path = Path(folder) / "page.pdf"
        path.write_bytes(body)
        try:
            extracted = read_pdf(path, name)
        except DocumentError as exc:
            raise ToolError(str(exc)) from None
    text = "\n\n".join(unit.text for unit in extracted.units)
    return extracted.title or name, text
