"""``extract(path)``: any supported file to text units with locations, or a DocumentError.

The kind comes from the file name's extension, and from the first bytes when the
extension says nothing.  Every failure a file can cause ends as a DocumentError whose
message the GUI shows as is; a parser crashing on a malformed file is logged (with its
traceback, in case it is our bug) and reported as a damaged file.  Slow for big files:
call it off the GUI thread.

The format readers are imported when first needed: PDFium and lxml take a while to
load, and the app should start without them.  File names may hold any bytes: every
message shows them through :func:`common.text.display_name`.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from common.text import display_name
from common.units import format_bytes

from .units import DocumentError, Extracted

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200_000_000

_CODE = (
    "py pyi pyw ipynb js mjs cjs jsx ts tsx c h cc cpp cxx hpp hh hxx m mm cs java kt kts "
    "swift go rs rb php pl pm lua r jl scala sc dart zig hs ml mli ex exs erl clj cljs el "
    "vim sh bash zsh fish ps1 bat cmd sql css scss sass less vue svelte json jsonc jsonl "
    "yaml yml toml ini cfg conf properties env xml xsd xsl gradle cmake mk proto graphql "
    "gql tf hcl nix tex bib diff patch"
)
EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".csv": "csv", ".tsv": "csv",
    ".txt": "text", ".text": "text", ".log": "text", ".rst": "text", ".adoc": "text",
    ".org": "text",
    **{f".{ext}": "code" for ext in _CODE.split()},
}
CODE_FILE_NAMES = {"makefile", "dockerfile", "containerfile", "cmakelists.txt", "gemfile",
                   "rakefile", "justfile", "vagrantfile", "procfile"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old Office files, and encrypted new ones
_SNIFF_BYTES = 8192


def check_size(path: str | os.PathLike[str], name: str | None = None) -> int:
    """The file's size in bytes; DocumentError if it is missing, not a file, or over
    :data:`MAX_FILE_BYTES`.  Cheap: ``os.stat`` only, so call it before hashing."""
    path = Path(path)
    name = display_name(name or path)
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise DocumentError(f"{name} was not found; was it moved or deleted?") from exc
    except OSError as exc:
        raise DocumentError(f"Hearth could not open {name}: {exc.strerror or exc}.") from exc
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError(f"{name} is a folder, not a document.")
    if not stat.S_ISREG(st.st_mode):  # a pipe or a device: reading it could block forever
        raise DocumentError(f"{name} is not a file Hearth can read.")
    if st.st_size > MAX_FILE_BYTES:
        raise DocumentError(
            f"{name} is {format_bytes(st.st_size)}; Hearth reads documents up to "
            f"{format_bytes(MAX_FILE_BYTES)}."
        )
    return st.st_size


def detect_kind(path: Path, head: bytes) -> str | None:
    """One of :data:`~storage.documents.units.KINDS`, or None: "find out by decoding"."""
    by_extension = EXTENSIONS.get(path.suffix.lower())
    if by_extension is not None:
        return by_extension
    if path.name.lower() in CODE_FILE_NAMES:
        return "code"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"  # read_docx says "not a document" when the zip holds no Word file
    return None


def extract(path: str | os.PathLike[str], *, name: str | None = None) -> Extracted:
    """Read the file at ``path``; ``name`` (default: its file name) is what messages say,
    made safe to show (:func:`common.text.display_name`) whatever bytes it holds."""
    path = Path(path)
    name = display_name(name or path)
    check_size(path, name)
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DocumentError(f"Hearth could not open {name}: {exc.strerror or exc}.") from exc
    if head.startswith(_OLE_MAGIC):
        raise DocumentError(
            f"{name} is an older Office file (such as .doc) or is protected by a password. "
            "Save it as .docx without a password and attach that."
        )
    kind = detect_kind(path, head)
    try:
        extracted = _read(path, name, kind)
    except DocumentError:
        raise
    except OSError as exc:
        raise DocumentError(f"Hearth could not read {name}: {exc.strerror or exc}.") from exc
    except MemoryError as exc:
        raise DocumentError(f"{name} is too large to read with the memory available.") \
            from exc
    except Exception as exc:  # a parser choking on a malformed file
        log.warning("extracting %r failed", str(path), exc_info=True)  # repr: any bytes
        raise DocumentError(f"{name} could not be read; it looks damaged.") from exc
    if not any(unit.text.strip() for unit in extracted.units):
        raise DocumentError(f"{name} contains no text.")
    return extracted


def _read(path: Path, name: str, kind: str | None) -> Extracted:
    if kind == "pdf":
        from .read_pdf import read_pdf

        return read_pdf(path, name)
    if kind == "docx":
        from .read_docx import read_docx

        return read_docx(path, name)
    data = path.read_bytes()
    if kind == "html":
        from .read_html import read_html

        return read_html(data, name)
    if kind == "markdown":
        from .read_markdown import read_markdown

        return read_markdown(data, name)
    from .read_text import read_csv, read_plain

    if kind == "csv":
        return read_csv(data, name, tab_separated=path.suffix.lower() == ".tsv")
    if kind is None:
        return read_plain(data, name, "text", expect_text=False)
    return read_plain(data, name, kind)
