"""Word .docx: paragraphs into heading sections, tables as Markdown-style rows, in order.

Our own streaming reader of word/document.xml, not python-docx: python-docx inflates
every part whole and builds an lxml tree of the document (a 490 MB body took 5.8 GB,
and its per-paragraph lookups made a 100 MB body take over ten minutes). Here the
zip's parts are inflated 64 kB at a time (:mod:`.zip_parts` counts every byte against
the zip-bomb limits) into lxml's event parser with a *target*: no tree is built, so
memory is the text read plus one paragraph or table row. libxml2 keeps its limits
(nesting 256 deep, text nodes of 10 MB), and entities and DTDs are refused.

What it reads is what python-docx gave: the text of each paragraph's runs and
hyperlinks (tabs as tabs, line breaks as newlines), its style and the styles that style
is based on (a custom "Chapter" based on "Heading 1" is a heading too), table rows with
merged cells listed once, and the title from the document's properties. A little more
too: text in tracked insertions, content controls and text boxes.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .sections import SectionBuilder
from .units import DocumentError, Extracted
from .zip_parts import Budget, damaged, open_archive, stream_part

_MAIN_PART = "word/document.xml"
_STYLES_PART = "word/styles.xml"
_CORE_PART = "docProps/core.xml"
MAX_SMALL_PART_BYTES = 20_000_000  # styles and properties: kilobytes in real documents
_WORD = {"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
         "http://purl.oclc.org/ooxml/wordprocessingml/main"}  # transitional, strict
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
# Subtrees whose text is not the document's: deleted revisions, and the copy a file keeps
# for older readers (mc:Fallback repeats the text box its mc:Choice holds).
_SKIPPED = {"del", "moveFrom", "pPrChange", "rPrChange", "instrText", "delText"}
_RUN_TEXT = {"tab": "\t", "ptab": "\t", "cr": "\n", "noBreakHyphen": "-"}
# python-docx's names for built-in styles stored under lower-case ids' names.
_UI_NAMES = {"caption": "Caption", "footer": "Footer", "header": "Header",
             **{f"heading {n}": f"Heading {n}" for n in range(1, 10)}}


def _word_name(tag: object) -> str | None:
    """The local name of a WordprocessingML element; None for any other namespace."""
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    namespace, _, local = tag[1:].partition("}")
    return local if namespace in _WORD else None


def _value(attrib: dict, key: str = "val") -> str | None:
    for namespace in _WORD:
        value = attrib.get(f"{{{namespace}}}{key}")
        if value is not None:
            return value
    return None


def _feed(archive: zipfile.ZipFile, part: str, budget: Budget, target: object,
          limit: int | None = None) -> None:
    from lxml import etree

    parser = etree.XMLParser(target=target, resolve_entities=False, load_dtd=False,
                             no_network=True, huge_tree=False)
    for chunk in stream_part(archive, part, budget, limit):
        parser.feed(chunk)
    parser.close()


class _NoDoctype:
    def doctype(self, *args: object) -> None:
        # Word never writes a DTD; one in a part is an entity bomb or worse.
        raise ValueError("a document type declaration in a Word part")

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _Style:
    name: str
    based_on: str | None


class _Styles(_NoDoctype):
    """word/styles.xml: each paragraph style's name and the style it is based on."""

    def __init__(self) -> None:
        self.styles: dict[str, _Style] = {}
        self.default: str | None = None
        self._current: str | None = None

    def start(self, tag: str, attrib: dict) -> None:
        local = _word_name(tag)
        if local == "style" and _value(attrib, "type") in (None, "paragraph"):
            self._current = _value(attrib, "styleId") or ""
            self.styles[self._current] = _Style(self._current, None)
            if _value(attrib, "default") in ("1", "true", "on"):
                self.default = self._current
        elif self._current is not None and local == "name":
            raw = _value(attrib) or ""
            self.styles[self._current].name = _UI_NAMES.get(raw, raw)
        elif self._current is not None and local == "basedOn":
            self.styles[self._current].based_on = _value(attrib)

    def end(self, tag: str) -> None:
        if _word_name(tag) == "style":
            self._current = None

    def names(self, style_id: str | None) -> list[str]:
        """The style's name and those it is based on; an unknown style is the default."""
        if style_id not in self.styles:
            style_id = self.default
        names: list[str] = []
        while style_id in self.styles and len(names) < 8:
            style = self.styles[style_id]  # type: ignore[index]
            names.append(style.name)
            style_id = style.based_on
        return names


class _Title(_NoDoctype):
    """docProps/core.xml: the document's title, if it has one."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._state = "before"  # before, in, after the first dc:title

    def start(self, tag: str, attrib: dict) -> None:
        if tag == _DC_TITLE and self._state == "before":
            self._state = "in"

    def data(self, text: str) -> None:
        if self._state == "in" and len(self._parts) < 1000:
            self._parts.append(text)

    def end(self, tag: str) -> None:
        if tag == _DC_TITLE and self._state == "in":
            self._state = "after"

    def value(self) -> str | None:
        return " ".join("".join(self._parts).split()) or None


@dataclass
class _Cell:
    texts: list[str] = field(default_factory=list)  # its paragraphs
    span: int = 1
    merged: bool = False  # continues the cell above (w:vMerge without "restart")


class _Body(_NoDoctype):
    """word/document.xml as parse events, into paragraphs and table rows."""

    def __init__(self, styles: _Styles) -> None:
        self.sections = SectionBuilder()
        self.title: str | None = None  # the first paragraph styled "Title"
        self._styles = styles
        self._stack: list[str | None] = []  # open elements' local names (None: not Word's)
        self._skip = 0  # depth inside a subtree whose text is left out
        self._paragraphs: list[tuple[list[str], list[str | None]]] = []  # (parts, [style])
        self._text = False  # inside a w:t of a run
        self._tables = 0  # depth of open tables
        self._cells: list[_Cell] = []
        self._row: list[_Cell] | None = None
        self._above: dict[int, str] = {}  # previous row's text by grid column
        self._rows_done = 0

    def start(self, tag: str, attrib: dict) -> None:
        local = _word_name(tag)
        parent = self._stack[-1] if self._stack else None
        self._stack.append(local)
        if self._skip or local in _SKIPPED or tag == _FALLBACK:
            self._skip += 1
            return
        if local == "p":
            self._paragraphs.append(([], [None]))
        elif local == "t":
            self._text = parent == "r" and bool(self._paragraphs)
        elif parent == "r" and self._paragraphs and local in _RUN_TEXT:
            self._paragraphs[-1][0].append(_RUN_TEXT[local])
        elif parent == "r" and self._paragraphs and local == "br":
            if _value(attrib, "type") in (None, "textWrapping"):
                self._paragraphs[-1][0].append("\n")
        elif local == "pStyle" and parent == "pPr" and self._paragraphs and \
                len(self._stack) >= 3 and self._stack[-3] == "p":
            self._paragraphs[-1][1][0] = _value(attrib)
        elif local == "tbl":
            self._tables += 1
            if self._tables == 1:
                self.sections.blank()
                self._rows_done = 0
                self._above = {}
        elif local == "tr" and self._tables == 1:
            self._row = []
        elif local == "tc":
            self._cells.append(_Cell())
        elif local == "gridSpan" and parent == "tcPr" and self._cells:
            try:
                self._cells[-1].span = min(max(int(_value(attrib) or 1), 1), 1000)
            except ValueError:
                pass
        elif local == "vMerge" and parent == "tcPr" and self._cells:
            self._cells[-1].merged = _value(attrib) in (None, "continue")

    def data(self, text: str) -> None:
        if self._text and not self._skip:
            self._paragraphs[-1][0].append(text)

    def end(self, tag: str) -> None:
        local = self._stack.pop() if self._stack else None
        if self._skip:
            self._skip -= 1
            return
        if local == "t":
            self._text = False
        elif local == "p" and self._paragraphs:
            parts, (style,) = self._paragraphs.pop()
            text = "".join(parts)
            if self._cells:
                self._cells[-1].texts.append(text)
            else:
                self._paragraph(text, style)
        elif local == "tc" and self._cells:
            cell = self._cells.pop()
            if self._cells:  # a table inside a cell: its text joins the outer cell
                self._cells[-1].texts.extend(cell.texts)
            elif self._row is not None:
                self._row.append(cell)
            else:  # a cell outside any row: keep its text
                for text in cell.texts:
                    self._paragraph(text, None)
        elif local == "tr" and self._tables == 1 and self._row is not None:
            self._end_row(self._row)
            self._row = None
        elif local == "tbl" and self._tables:
            self._tables -= 1
            if not self._tables:
                self.sections.blank()

    def _paragraph(self, text: str, style_id: str | None) -> None:
        text = text.strip()
        if not text:
            self.sections.blank()
            return
        style = self._styles.names(style_id)
        level = _heading_level(style)
        if level is not None:
            self.sections.heading(level, text)
            return
        if "Title" in style and self.title is None:
            self.title = text
        self.sections.line(f"- {text}" if any(s.startswith("List") for s in style) else text)
        self.sections.blank()

    def _end_row(self, row: list[_Cell]) -> None:
        cells, texts, column = [], {}, 0
        for cell in row:
            # A merged cell shows the text of the cell it continues, as python-docx did.
            text = self._above.get(column, "") if cell.merged else "\n".join(cell.texts)
            texts[column] = text
            cells.append(" ".join(text.split()).replace("|", "\\|"))
            column += cell.span
        self._above = texts
        self.sections.line("| " + " | ".join(cells) + " |")
        if self._rows_done == 0:
            self.sections.line("|" + " --- |" * len(cells))
        self._rows_done += 1


def _heading_level(style_names: list[str]) -> int | None:
    for style in style_names:
        prefix, _, number = style.partition(" ")
        if prefix == "Heading" and number.isdigit():
            return int(number)
    return None


def read_docx(path: Path, name: str) -> Extracted:
    from lxml import etree

    archive = open_archive(path, name, _MAIN_PART)
    try:
        budget = Budget(path, name)
        styles, properties = _Styles(), _Title()
        try:
            if _STYLES_PART in archive.NameToInfo:
                _feed(archive, _STYLES_PART, budget, styles, MAX_SMALL_PART_BYTES)
            if _CORE_PART in archive.NameToInfo:
                _feed(archive, _CORE_PART, budget, properties, MAX_SMALL_PART_BYTES)
        except (etree.XMLSyntaxError, ValueError):
            pass  # damaged styles or properties: the text is still worth having
        body = _Body(styles)
        try:
            _feed(archive, _MAIN_PART, budget, body)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise DocumentError(f"{name} could not be read; it looks damaged.") from exc
    finally:
        archive.close()
    units = body.sections.finish()
    title = properties.value() or body.title or body.sections.first_heading
    return Extracted(tuple(units), title, "docx")


__all__ = ["read_docx"]
