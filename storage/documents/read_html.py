"""HTML: the visible text as light Markdown, one unit per heading (h1–h6) section.

lxml's HTML parser (libxml2; BSD) copes with real-world tag soup.  Scripts, styles,
navigation, forms and hidden elements are dropped; the walk is iterative (``iterwalk``),
so absurdly deep nesting cannot overflow the stack.

libxml2 builds at most 2,048 levels of elements (with ``huge_tree``) and stops reading
at the first deeper one, dropping the rest of the page, deep or not.  Such a page is read
again by :func:`_flat_lines`, which builds no tree and so has no depth: its text comes
out as plain lines, without headings, and the user is told so.
"""

from __future__ import annotations

import codecs
import re
from html import unescape

from .read_text import decode_text
from .sections import SectionBuilder
from .units import DocumentError, Extracted

_DROPPED = frozenset({
    "head", "script", "style", "noscript", "template", "nav", "aside", "form", "button",
    "select", "textarea", "iframe", "object", "embed", "svg", "canvas", "dialog",
})
_BLOCKS = frozenset({
    "html", "body", "p", "div", "section", "article", "main", "header", "footer", "address",
    "blockquote", "pre", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot",
    "figure", "figcaption", "hr", "caption", "details", "summary", "fieldset", "center",
})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")


def read_html(data: bytes, name: str) -> Extracted:
    from lxml import etree, html

    text = _decode(data, name)
    text = _XML_DECLARATION.sub("", text)  # lxml refuses str input that declares an encoding
    if not text.strip():
        raise DocumentError(f"{name} contains no text.")
    # huge_tree: libxml2 otherwise drops whatever is nested deeper than 256 elements
    # (2,048 with it: deeper than that is no page a person reads, but say so).
    parser = html.HTMLParser(huge_tree=True)
    try:
        root = html.document_fromstring(text, parser=parser)
    except etree.ParserError as exc:  # "Document is empty": markup alone, such as "<!"
        raise DocumentError(f"{name} contains no text.") from exc
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        return _read_flat(text, name)
    title_element = root.find(".//title")
    title = " ".join(title_element.text_content().split()) if title_element is not None else ""
    walker = _Walker()
    events = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in events:
        tag = element.tag if isinstance(element.tag, str) else None
        if event in ("comment", "pi") or tag is None:
            walker.text(element.tail)
        elif event == "start":
            if _is_dropped(element, tag.lower()):
                events.skip_subtree()
            else:
                walker.start(tag.lower(), element.text)
        else:
            if not _is_dropped(element, tag.lower()):
                walker.end(tag.lower())
            walker.text(element.tail)
    units = walker.finish()
    return Extracted(tuple(units), title or walker.sections.first_heading, "html")


NESTED_TOO_DEEPLY = ("The page is nested too deeply to keep its layout; its text was read "
                     "as plain lines, without headings or tables.")


def _read_flat(text: str, name: str) -> Extracted:
    sections = SectionBuilder()
    for line in _flat_lines(text):
        sections.line(line)
    units = sections.finish()
    if not units:
        raise DocumentError(f"{name} contains no text.")
    return Extracted(tuple(units), None, "html", warnings=(NESTED_TOO_DEEPLY,))


# The flat reading: what is not text goes, tags break lines or vanish.  Each step is one
# regular-expression pass or a find() loop, linear in the page: no nesting is tracked.
_NOT_TEXT = re.compile(r"<(script|style|template|svg)[\s/>]", re.IGNORECASE)
_BREAKING_TAG = re.compile(r"</?(?:%s|br|li|tr)(?:[\s/][^<>]*)?>" % "|".join(
    sorted(_BLOCKS | set(_HEADINGS))), re.IGNORECASE)
_CELL_TAG = re.compile(r"</?t[dh](?:[\s/][^<>]*)?>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[a-zA-Z/!?][^<>]*>")


def _flat_lines(text: str) -> list[str]:
    text = _drop_elements(_drop_comments(text))
    text = _BREAKING_TAG.sub("\n", text)
    text = _CELL_TAG.sub(" ", text)
    text = unescape(_ANY_TAG.sub("", text))
    return [" ".join(line.split()) for line in text.split("\n") if line.strip()]


def _drop_comments(text: str) -> str:
    """Without ``<!-- ... -->``; an unclosed comment runs to the end, as in a browser."""
    kept, at = [], 0
    while (start := text.find("<!--", at)) >= 0:
        kept.append(text[at:start])
        close = text.find("-->", start + 4)
        at = close + 3 if close >= 0 else len(text)
    kept.append(text[at:])
    return " ".join(kept)


def _drop_elements(text: str) -> str:
    """Without the elements of :data:`_NOT_TEXT`, each up to its end tag (the rest of the
    page when there is none, as a browser reads an unclosed script)."""
    kept, at = [], 0
    while (opening := _NOT_TEXT.search(text, at)) is not None:
        kept.append(text[at:opening.start()])
        close = re.compile(rf"</{opening.group(1)}\s*>", re.IGNORECASE).search(text,
                                                                                 opening.end())
        at = close.end() if close else len(text)
    kept.append(text[at:])
    return " ".join(kept)


def _decode(data: bytes, name: str) -> str:
    """The page's declared charset when it names a real codec and fits; else guessed."""
    declared = _META_CHARSET.search(data[:4096])
    if declared and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE,
                                          codecs.BOM_UTF16_BE)):
        try:
            return data.decode(declared.group(1).decode("ascii")).replace("\r\n", "\n")
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data, name)


def _is_dropped(element: object, tag: str) -> bool:
    get = element.get  # type: ignore[attr-defined]
    return (tag in _DROPPED or get("hidden") is not None
            or (get("aria-hidden") or "").lower() == "true"
            or (get("role") or "").lower() == "navigation")


class _Walker:
    """Collects text into lines: blocks and cells break lines, headings open sections."""

    def __init__(self) -> None:
        self.sections = SectionBuilder()
        self._parts: list[str] = []
        self._pre = 0  # depth inside <pre>: whitespace is kept there
        self._heading: list[str] | None = None  # text of the heading being read

    def text(self, value: str | None) -> None:
        if not value:
            return
        if self._heading is not None:
            self._heading.append(value)
        elif self._pre:
            lines = value.split("\n")
            self._parts.append(lines[0])
            for line in lines[1:]:
                self._end_line()
                self._parts.append(line)
        else:
            self._parts.append(re.sub(r"\s+", " ", value))

    def start(self, tag: str, text: str | None) -> None:
        if tag in _HEADINGS:
            self._end_line()
            self._heading = []
        elif tag in _BLOCKS:
            self._end_line(paragraph=True)
        elif tag in ("br", "li", "tr"):
            self._end_line()
        if tag == "pre":
            self._pre += 1
        elif tag == "li":
            self._parts.append("- ")
        elif tag == "tr":
            self._parts.append("|")
        elif tag in ("td", "th"):
            self._parts.append(" ")
        self.text(text)

    def end(self, tag: str) -> None:
        if tag in _HEADINGS and self._heading is not None:
            self.sections.heading(_HEADINGS[tag], "".join(self._heading))
            self._heading = None
        elif tag in ("td", "th"):
            self._parts.append(" |")
        if tag in _BLOCKS:
            self._end_line(paragraph=True)
        elif tag in ("li", "tr"):
            self._end_line()
        if tag == "pre":  # after its last line ended, which keeps that line's indent
            self._pre = max(0, self._pre - 1)

    def finish(self) -> list:
        self._end_line()
        return self.sections.finish()

    def _end_line(self, paragraph: bool = False) -> None:
        line = "".join(self._parts)
        self._parts = []
        if self._pre:
            self.sections.line(line)
        elif line.strip():
            self.sections.line(" ".join(line.split()))
        if paragraph:
            self.sections.blank()
