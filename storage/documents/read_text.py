"""Plain text, source code and CSV; and the text decoding every text-based format shares.

Decoding order: a byte-order mark decides; else strict UTF-8 (most files today); else a
NUL byte means binary; else charset-normalizer guesses.  It guesses East Asian and
Cyrillic encodings well but often takes Windows-1252 text (the commonest legacy
encoding by far: "café" saved by an old Windows editor) for a Baltic or Central
European code page, so Windows-1252 wins whenever it decodes the bytes about as cleanly
as the best guess.
"""

from __future__ import annotations

import codecs
import csv
import io

from .units import DocumentError, Extracted, Location, Unit

SUPPORTED = "PDF, Word (.docx), HTML, Markdown, CSV, and plain text or source code"
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# UTF-16/32 without a mark would contain NULs, which we read as binary first; and
# charset-normalizer calls short Latin text UTF-16 otherwise.
_NEVER_GUESS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]
_CP1252_TOLERANCE = 0.15  # extra "chaos" (charset-normalizer's mess ratio) allowed
_BINARY_PROBE = 65536  # bytes searched for a NUL
_SNIFF_CHARS = 4096


def not_readable(name: str) -> DocumentError:
    return DocumentError(f"{name} is not a document Hearth can read. Hearth reads {SUPPORTED}.")


def decode_text(data: bytes, name: str, *, expect_text: bool = True) -> str:
    """The file's text with newlines normalised to ``\\n``.

    DocumentError for binary data, or for text whose encoding cannot be worked out
    (``expect_text=False``, for files of an unknown type, says "not a document" then).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _normalise(data.decode(encoding, errors="replace"))
    try:
        return _normalise(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:_BINARY_PROBE]:
        raise not_readable(name)
    from charset_normalizer import (
        from_bytes,  # its import takes a moment; rarely needed
    )

    matches = from_bytes(data, cp_exclusion=_NEVER_GUESS)
    best = matches.best()
    if best is None:
        if not expect_text:
            raise not_readable(name)
        raise DocumentError(
            f"Hearth could not work out the text encoding of {name}. "
            "Save it as UTF-8 and attach it again."
        )
    encoding = best.encoding
    if any(m.chaos <= best.chaos + _CP1252_TOLERANCE and "cp1252" in m.could_be_from_charset
           for m in matches):
        encoding = "cp1252"
    # The guess was made on samples; a stray byte elsewhere must not fail the whole file.
    return _normalise(data.decode(encoding, errors="replace"))


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def read_plain(data: bytes, name: str, kind: str, *, expect_text: bool = True) -> Extracted:
    """The whole file as one unit spanning all its lines; chunks narrow the range."""
    text = decode_text(data, name, expect_text=expect_text)
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    unit = Unit(text, Location(lines=(1, max(1, line_count))))
    return Extracted((unit,), None, kind)


def read_csv(data: bytes, name: str, *, tab_separated: bool) -> Extracted:
    """Rows as Markdown-style table lines, the header kept aside for every chunk.

    Row numbers are a spreadsheet's (header = row 1), counted by record, so a quoted
    field spanning lines does not shift them; newlines inside a field become spaces.
    A field may be as long as the file (the csv module's default limit is 128 kB).
    """
    text = decode_text(data, name)
    if tab_separated:
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
    else:
        try:  # the Sniffer's regular expressions are quadratic: a few lines suffice
            dialect = csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=",;\t|")
        except csv.Error:  # one column, or too irregular to tell: the common case wins
            dialect = csv.excel
    # Raised, never lowered: other threads may be reading a bigger file right now.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header: list[str] | None = None
    body: list[str] = []  # rows as lines, not lists of cells: a tenth of the memory
    try:
        for record in reader:
            if header is None:
                header = record
            else:
                body.append(_row(record))
    except csv.Error as exc:
        raise DocumentError(f"{name} is not a CSV file Hearth can read (line "
                            f"{reader.line_num}: {exc}).") from exc
    if header is None:
        return Extracted((), None, "csv")
    if not body:
        return Extracted((Unit(_row(header), Location(rows=(1, 1))),), None, "csv")
    rule = "|" + " --- |" * max(1, len(header))
    unit = Unit("\n".join(body), Location(rows=(2, len(body) + 1)),
                header=f"{_row(header)}\n{rule}")
    return Extracted((unit,), None, "csv")


def _row(cells: list[str]) -> str:
    if not cells:
        return "| |"
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"
