"""A page as gpt-oss's browser shows it: text wrapped into numbered lines, links as `【id†text】`.

Follows OpenAI's reference browser (github.com/openai/gpt-oss, gpt_oss/tools/simple_browser/
page_contents.py, Apache-2.0), which turns HTML into Markdown-like text with html2text: links
become `【{id}†{text}】` (`【{id}†{text}†{domain}】` when they lead to another site), images
`[Image n: alt]`, `<sup>2</sup>` `^{2}`, headings `#`, list items `  * `, quotes `> `, code
indented; `【】` in the page itself become `〖〗` so only real links look like links; a page's
text starts with a `URL:` line; lines are wrapped at 80 characters and numbered from L0.
html2text itself is GPL, so this is our own walk over lxml's tree, iterative (no recursion:
absurdly deep nesting cannot overflow the stack), emulating its output for the tags above.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

WRAP_WIDTH = 80
MAX_PAGE_CHARS = 1_000_000  # wrapping and searching stay well under a second
_SPECIAL = str.maketrans({"【": "〖", "】": "〗", "◼": "◾", "\u200b": None})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_SPACE = re.compile(r"\s+")
_BREAKABLE = re.compile(r"[\s-]")  # where textwrap may break a line
_WORD_ONLY = re.compile(r"[\w\-]+")
_DROPPED = frozenset({"head", "script", "style", "noscript", "template", "svg", "canvas",
                      "math", "iframe", "object", "embed", "title"})
_BLOCKS = frozenset({"p", "div", "section", "article", "main", "header", "footer", "nav",
                     "aside", "address", "figure", "figcaption", "table", "form", "fieldset",
                     "details", "summary", "center", "caption", "dl"})


@dataclass(eq=False)
class Page:
    """What the model can scroll, search and follow. `url` is "" for a search results page
    (as in the reference); a find results page links to lines of the page it searched."""

    url: str
    title: str
    lines: list[str]
    links: dict[int, str] = field(default_factory=dict)  # link id → absolute address
    matches: dict[int, tuple[Page, int]] | None = None  # find results: id → (page, line)


def make_page(url: str, title: str, text: str, links: dict[int, str] | None = None) -> Page:
    """The page's lines: a `URL:` line first (the reference's `display_urls`), then its text."""
    if len(text) > MAX_PAGE_CHARS:
        text = (text[:MAX_PAGE_CHARS]
                + f"\n\n[Page cut: only its first {MAX_PAGE_CHARS:,} characters are shown.]")
    return Page(url, title, wrap_lines(f"\nURL: {url}\n{text}"), links or {})


def wrap_lines(text: str) -> list[str]:
    """The reference's wrapping (textwrap at 80, whitespace kept, empty lines kept)."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= WRAP_WIDTH and "\t" not in line:
            lines.append(line)  # what textwrap returns for it, without its cost
        elif not _BREAKABLE.search(line):  # one long word: textwrap cuts it, slowly
            lines += [line[i:i + WRAP_WIDTH] for i in range(0, len(line), WRAP_WIDTH)]
        else:
            lines += textwrap.wrap(line, width=WRAP_WIDTH, replace_whitespace=False,
                                   drop_whitespace=False) or [""]
    return lines


def domain_of(url: str) -> str:
    return urlsplit(url if "//" in url else "http://" + url).netloc


def clean_text(text: str) -> str:
    """Text as the model may read it: no lookalike link brackets, no control characters."""
    return _CONTROL.sub("", text.translate(_SPECIAL))


def html_page(html: str, url: str, title: str | None = None) -> Page:
    """An HTML page rendered as the reference does. `title` overrides the page's own."""
    from lxml import etree
    from lxml import html as lxml_html

    source = _XML_DECLARATION.sub("", clean_text(html))
    root = None
    # huge_tree: libxml2 otherwise stops at 256 nested elements (2,048 with it; it reads
    # nothing after a deeper part, and the page says so).
    parser = lxml_html.HTMLParser(huge_tree=True)
    if source.strip():
        try:
            root = lxml_html.document_fromstring(source, parser=parser)
        except (etree.ParserError, ValueError):
            root = None  # nothing an HTML parser recognises: an empty page
    if root is None:
        return make_page(url, title or domain_of(url), "")
    if not title:
        found = root.find(".//title")
        title = _SPACE.sub(" ", found.text_content()).strip() if found is not None else ""
    walker = _Walker(url)
    skipped: list[bool] = []  # per open element: was its subtree skipped?
    events = etree.iterwalk(root, events=("start", "end", "comment", "pi"))
    for event, element in events:
        if walker.size > MAX_PAGE_CHARS:
            break  # make_page cuts the text there anyway
        if event == "start":
            tag = element.tag.lower() if isinstance(element.tag, str) else ""
            skipped.append(walker.start(element, tag))
            if skipped[-1]:
                events.skip_subtree()  # its text is already out (a link), or it is dropped
            continue
        if event == "end" and not skipped.pop():
            walker.end(element.tag.lower() if isinstance(element.tag, str) else "")
        walker.tail(element)  # comments and processing instructions keep their tails
    text = walker.text()
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        text += "\n\n[The rest of the page is nested too deeply to read.]"
    return make_page(url, title or domain_of(url), text, walker.links)


class _Walker:
    """html2text's output, paragraph by paragraph: pending newlines collapse, a paragraph
    break is one empty line, and a space separates two words a tag stood between."""

    def __init__(self, url: str) -> None:
        self.url, self.domain = url, domain_of(url)
        self.links: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._out: list[str] = []
        self.size = 0  # characters written so far
        self._newlines = 0  # line breaks owed before the next text (2: a paragraph)
        self._space = False  # a space owed before the next text
        self._at_line_start = True
        self._last = ""  # the last character written
        self._boundary = False  # a tag opened or closed since the last text
        self._lists: list[list] = []  # [kind, number] per open list
        self._quote = self._pre = self._images = 0
        self._pre_started = False

    def start(self, element, tag: str) -> bool:
        """Opens an element; True when its subtree must not be walked."""
        self._boundary = True
        if not tag or tag in _DROPPED or element.get("hidden") is not None or \
                "display:none" in (element.get("style") or "").replace(" ", "").lower():
            return True
        if tag == "a" and self._link(element):
            return True
        if tag in ("sup", "sub") and len(element) == 0 and \
                _WORD_ONLY.fullmatch(element.text or ""):
            self._write(("^{%s}" if tag == "sup" else "_{%s}") % element.text)
            return True
        if tag == "img":
            name = element.get("alt") or element.get("title")
            self._write(f"[Image {self._images}: {clean_text(name)}]" if name
                        else f"[Image {self._images}]")
            self._images += 1
        elif tag in _BLOCKS or tag == "blockquote":
            self._break(2)
            self._quote += tag == "blockquote"
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._break(2)
            self._write("#" * int(tag[1]) + " ")
        elif tag == "br":
            self._out.append("\n")
            self._newlines, self._at_line_start, self._space = 0, True, False
        elif tag == "hr":
            self._break(2)
            self._write("* * *")
            self._break(2)
        elif tag in ("ul", "ol"):
            if not self._lists:
                self._break(2)
            start = (element.get("start") or "").strip()
            self._lists.append([tag, int(start) - 1 if start.isdigit() else 0])
        elif tag == "li":
            self._li()
        elif tag in ("tr", "dt", "dd"):
            self._break(1)
            if tag == "dd":
                self._write("    ")
        elif tag in ("td", "th"):
            self._space = True
        elif tag == "pre":
            self._break(2)
            self._pre += 1
            self._pre_started = True
        elif tag == "q":
            self._write('"')
        self._text(element.text)
        return False

    def end(self, tag: str) -> None:
        self._boundary = True
        if tag in _BLOCKS or (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456"):
            self._break(2)
        elif tag == "blockquote":
            self._quote = max(0, self._quote - 1)
            self._break(2)
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._break(2 if not self._lists else 1)
        elif tag in ("li", "tr", "dt", "dd"):
            self._break(1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
            self._break(2)
        elif tag == "q":
            self._write('"')

    def tail(self, element) -> None:
        self._text(element.tail)

    def text(self) -> str:
        text = "".join(self._out)
        lines = [line.rstrip() for line in text.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")

    def _link(self, element) -> bool:
        """Writes a link as `【id†text】`; False for one left as plain content (an anchor
        within the page, mail, script, an image-only link, an address without a host)."""
        href = (element.get("href") or "").strip()
        if not href or href.lower().startswith(("mailto:", "javascript:")):
            return False
        text = clean_text(_SPACE.sub(" ", " ".join(element.itertext())).strip()).replace("†", "‡")
        if not text:
            return False  # probably an image: walked as usual
        if href.startswith("#"):
            self._write(text)
            return True
        try:
            target = urljoin(self.url, href)
            domain = urlsplit(target).netloc
        except ValueError:
            return False
        if not domain:
            return False
        if (link_id := self._ids.get(target)) is None:
            link_id = self._ids[target] = len(self.links)
            self.links[link_id] = target
        self._write(f"【{link_id}†{text}】" if domain == self.domain
                    else f"【{link_id}†{text}†{domain}】")
        return True

    def _li(self) -> None:
        self._break(1)
        indent, parent = "", None
        for kind, _ in self._lists:
            indent += "   " if parent == "ol" else "  "
            parent = kind
        current = self._lists[-1] if self._lists else ["ul", 0]
        if current[0] == "ol":
            current[1] += 1
            self._write(f"{indent}{current[1]}. ")
        else:
            self._write(f"{indent}* ")
        self._space = False

    def _break(self, newlines: int) -> None:
        if self._out:
            self._newlines = max(self._newlines, newlines)
        self._space = False

    def _text(self, value: str | None) -> None:
        if not value:
            return
        value = clean_text(value)
        if self._pre:
            if self._pre_started:
                value = value.removeprefix("\n")  # as browsers do after <pre>
                self._pre_started = False
            for number, line in enumerate(value.split("\n")):
                if number:
                    self._out.append("\n")
                    self._at_line_start, self._newlines = True, 0
                if line:
                    self._write(line)
            return
        value = _SPACE.sub(" ", value)
        if value.startswith(" "):
            self._space = True
        words = value.strip()
        if words:
            if self._boundary and _wordy(self._last) and _wordy(words[0]) \
                    and not self._newlines:
                self._space = True  # the reference puts a space where a tag joined two words
            self._write(words)
            self._space = value.endswith(" ")
        self._boundary = False

    def _write(self, text: str) -> None:
        if self._newlines:
            self._out.append("\n" * self._newlines)
            self._at_line_start, self._newlines, self._space = True, 0, False
        if self._at_line_start:
            if self._quote:
                self._out.append("> " * self._quote)
            if self._pre:
                self._out.append("    ")
        elif self._space:
            self._out.append(" ")
        self._out.append(text)
        self.size += len(text)
        self._at_line_start, self._space, self._last = False, False, text[-1]


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"


def find_in_page(page: Page, pattern: str, max_results: int = 50,
                 num_show_lines: int = 4) -> Page:
    """The reference's `run_find_in_page`: case-insensitive, line by line, links shown as
    their text; each match a `# 【n†match at Lk】` heading over the lines from there."""
    pattern = pattern.lower()
    lines = _strip_links("\n".join(page.lines)).split("\n")
    chunks: list[str] = []
    matches: dict[int, tuple[Page, int]] = {}
    index = 0
    while index < len(lines) and len(chunks) < max_results:
        if pattern not in lines[index].lower():
            index += 1
            continue
        snippet = "\n".join(lines[index:index + num_show_lines])
        chunks.append(f"# 【{len(chunks)}†match at L{index}】\n{snippet}")
        matches[len(matches)] = (page, index)
        index += num_show_lines
    text = "\n\n".join(chunks) if chunks else f"No `find` results for pattern: `{pattern}`"

    found = Page(f"{page.url}/find?pattern={quote(pattern)}",
                 f"Find results for text: `{pattern}` in `{page.title}`", wrap_lines(text))
    found.matches = matches
    return found


_PARTIAL_START = re.compile(r"^[^【】]*】")
_PARTIAL_END = re.compile(r"【\d*(?:†(?P<content>[^†】]*)(?:†[^†】]*)?)?$")
_LINK = re.compile(r"【\d+†(?P<content>[^†】]+)(?:†[^†】]+)?】")


def _strip_links(text: str) -> str:
    text = _PARTIAL_START.sub("", text)
    text = _PARTIAL_END.sub(lambda m: m.group("content") or "", text)
    return _LINK.sub(lambda m: m.group("content"), text)


def text_page(data: str, url: str, title: str) -> Page:
    return make_page(url, title, clean_text(data).strip("\n"))
