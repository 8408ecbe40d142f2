"""gpt-oss's own `browser` tool: `browser.search`, `browser.open`, `browser.find`.

The model was trained on a browser that shows every page as numbered lines under a cursor
(`[3] Title (url)`, `**viewing lines [0 - 42] of 120**`, `L0: …`), links as `【id†text】`, and
that it cites as `【{cursor}†L{start}-L{end}】`. This ports the behaviour of OpenAI's reference
(github.com/openai/gpt-oss, gpt_oss/tools/simple_browser/simple_browser_tool.py, Apache-2.0),
messages included, so the text the model reads is the text it learned to read. Differences:
`topn` is honoured (up to `max_results`; the reference always shows 20), a page is kept per
cursor (the reference keys pages by URL, so a second search hid the first), `view_source`
shows the page's source, a page's size is measured in characters (~4 per token) rather
than with o200k, and an id given as a string of digits is a link id, not an address.

One `BrowserSession` per chat holds its pages and cursors; `browser_tools(session)` gives
the three `Tool`s the loop offers. The browser reaches the network (the search backend and
the pages the model opens), so the whole tool is off until the person turns it on.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from inference.harmony_tools import BROWSER

from .base import ToolContext, ToolError, ToolOutput, ToolSpec
from .browser_fetch import Deadline, Fetched, Fetcher, FetchLimits
from .browser_page import Page, domain_of, find_in_page, html_page, make_page, text_page
from .browser_search import SearchBackend, SearxngBackend, results_page

VIEW_TOKENS = 1024  # the reference shows this much of a page when num_lines is not given
_WIDE = re.compile(r"[\u2e80-\U0010ffff]")  # CJK and beyond: nearer a token a character
# A citation in the answer: 【6†L9-L11】 or 【8†L3】.
CITATION = re.compile(r"【(?P<cursor>\d+)†L(?P<start>\d+)(?:-L(?P<end>\d+))?】")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)  # not "host:port"
_SCHEME_HTTP = re.compile(r"https?://", re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""",
                           re.IGNORECASE)

__all__ = ["BrowserSession", "CITATION", "FetchLimits", "SearchBackend", "SearxngBackend",
           "browser_tools", "find_citations"]


@dataclass(frozen=True)
class Citation:
    cursor: int
    start: int  # first line cited
    end: int  # last line cited (= start for 【8†L3】)
    span: tuple[int, int]  # where the citation stands in the answer's text


def find_citations(text: str) -> list[Citation]:
    """The browser citations in an answer, in order."""
    return [Citation(int(m["cursor"]), int(m["start"]), int(m["end"] or m["start"]), m.span())
            for m in CITATION.finditer(text)]


class BrowserSession:
    """One chat's browser: its pages (one per cursor) and its HTTP client.

    `backend`: where searches go (None: `search` answers that no backend is set).
    `limits`: size, time and redirect limits per fetch, and whether local addresses open.
    Calls are serialised; any thread may make them."""

    def __init__(self, backend: SearchBackend | None, limits: FetchLimits | None = None, *,
                 max_results: int = 20, view_tokens: int = VIEW_TOKENS) -> None:
        self.backend = backend
        self.limits = limits or FetchLimits()
        self.max_results = max_results
        self.view_tokens = view_tokens
        self.stack: list[Page] = []  # cursor → page
        self._by_url: dict[str, Page] = {}  # pages fetched, for links followed again
        self._fetcher: Fetcher | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._fetcher is not None:
                self._fetcher.close()
                self._fetcher = None

    # -- the three calls ----------------------------------------------------------------------

    def search(self, query: str, topn: Any = 10, *, deadline: Deadline) -> ToolOutput:
        with self._lock:
            contacted: list[str] = []
            if self.backend is None:
                raise ToolError("No search backend is set up: the person can name one in "
                                "Settings.")
            count = min(max(_integer(topn, "topn"), 1), self.max_results)
            try:
                results = self.backend.search(str(query), count, self._http(), deadline,
                                              contacted)
            except ToolError as exc:
                raise ToolError(f"Error during search for `{_cut(str(query))}`: "
                                f"{_cut(str(exc))}") from None
            return self._show(results_page(str(query), results), 0, -1, contacted)

    def open(self, id: Any = -1, cursor: Any = -1, loc: Any = -1, num_lines: Any = -1,
             view_source: bool = False, *, deadline: Deadline) -> ToolOutput:
        with self._lock:
            contacted: list[str] = []
            if isinstance(id, str) and id.strip().isdigit():
                id = int(id.strip())
            loc, num_lines = _integer(loc, "loc"), _integer(num_lines, "num_lines")
            line = None  # a find match's line: where the view goes when loc is not given
            if isinstance(id, str):
                url = id.strip() if _SCHEME.match(id.strip()) else "https://" + id.strip()
                page = self._fetch(url, deadline, contacted, view_source)
            else:
                current = self._page(cursor)
                link = _integer(id, "id")
                if link < 0:  # scroll the page (or show the source of one fetched)
                    fetched = current.matches is None and _SCHEME_HTTP.match(current.url)
                    page = (self._fetch(current.url, deadline, contacted, True)
                            if view_source and fetched else current)
                elif current.matches is not None:
                    if link not in current.matches:
                        raise ToolError(f"Invalid link id `{link}`.")
                    page, line = current.matches[link]
                elif link in current.links:
                    url = current.links[link]
                    cached = None if view_source else self._by_url.get(url)
                    page = cached or self._fetch(url, deadline, contacted, view_source)
                    contacted = contacted or [url]
                else:
                    raise ToolError(f"Invalid link id `{link}`.")
            if loc < 0:
                loc = line - 4 if line is not None and line > 4 else (line or 0)
            return self._show(page, loc, num_lines, contacted or [page.url])

    def find(self, pattern: str, cursor: Any = -1, *, deadline: Deadline) -> ToolOutput:
        with self._lock:
            page = self._page(cursor)
            if page.matches is not None:
                raise ToolError("Cannot run `find` on search results page or find results page")
            return self._show(find_in_page(page, str(pattern)), 0, -1, [])

    def cited(self, cursor: int, start: int, end: int) -> tuple[str, str, str] | None:
        """(address, title, the lines cited) for a citation, while this session holds the
        page; None when the cursor or the lines do not exist."""
        with self._lock:
            if not 0 <= cursor < len(self.stack):
                return None
            page = self.stack[cursor]
            if not 0 <= start <= end < len(page.lines):
                return None
            return page.url, page.title, "\n".join(page.lines[start:end + 1])

    # -- pages --------------------------------------------------------------------------------

    def _page(self, cursor: Any) -> Page:
        cursor = _integer(cursor, "cursor")
        if not self.stack:
            raise ToolError("No pages to access!")
        if cursor == -1:
            return self.stack[-1]
        if not 0 <= cursor < len(self.stack):
            raise ToolError(f"Cursor `{cursor}` is out of range. "
                            f"Available cursor indices: [0 - {len(self.stack) - 1}].")
        return self.stack[cursor]

    def _show(self, page: Page, loc: int, num_lines: int, contacted: list[str]) -> ToolOutput:
        """The view the model reads; the page gets the next cursor (scrolling included,
        as in the reference), unless the location is past its end."""
        total = len(page.lines)
        if loc >= total:
            raise ToolError(f"Invalid location parameter: `{loc}`. "
                            f"Cannot exceed page maximum of {total - 1}.")
        end = self._view_end(page, loc, num_lines)
        cursor = len(self.stack)
        self.stack.append(page)
        body = "\n".join(f"L{n}: {page.lines[n]}" for n in range(loc, end))
        header = page.title + (f" ({_cut(unquote(page.url))})" if page.url else "")
        scrollbar = f"**viewing lines [{loc} - {end - 1}] of {total - 1}**"
        text = f"[{cursor}] {header}\n{scrollbar}\n\n{body}"
        citation = {"key": str(cursor), "label": page.title, "url": page.url,
                    "lines": [loc, end - 1]}
        return ToolOutput(text, citations=(citation,),
                          pages=tuple(dict.fromkeys(u for u in contacted if u)))

    def _view_end(self, page: Page, loc: int, num_lines: int) -> int:
        total = len(page.lines)
        if num_lines > 0:
            return min(loc + num_lines, total)
        used = 0.0
        for n in range(loc, total):  # the line that crosses the budget is shown whole
            used += _line_tokens(page.lines[n])
            if used > self.view_tokens:
                return n + 1
        return total

    def _http(self) -> Fetcher:
        if self._fetcher is None:
            self._fetcher = Fetcher(self.limits)
        return self._fetcher

    def _fetch(self, url: str, deadline: Deadline, contacted: list[str],
               view_source: bool = False) -> Page:
        try:
            fetched = self._http().get(url, deadline, contacted)
            page = _render(fetched, view_source)
        except ToolError as exc:
            raise ToolError(f"Error fetching URL `{_cut(url)}`: {_cut(str(exc))}") from None
        if not view_source:
            self._by_url[url] = self._by_url[page.url] = page
        return page


def _render(fetched: Fetched, view_source: bool) -> Page:
    if not 200 <= fetched.status < 300:
        raise ToolError(f"the server answered HTTP {fetched.status}")
    kind, body = fetched.content_type, fetched.body
    name = unquote(urlsplit(fetched.url).path.rstrip("/").rpartition("/")[2]) or \
        domain_of(fetched.url)
    if kind == "application/pdf" or (kind in ("", "application/octet-stream")
                                     and body.startswith(b"%PDF-")):
        if view_source:
            raise ToolError("a PDF has no source to show")
        from .browser_pdf import pdf_text

        return make_page(fetched.url, *pdf_text(body, name, fetched.truncated))
    if kind and not (kind.startswith("text/") or kind in _HTML_TYPES or kind.endswith("+xml")
                     or kind in ("application/xml", "application/json")):
        raise ToolError(f"the page is not text or HTML but {kind}, which the browser does "
                        "not show")
    text = _decode(fetched)
    if view_source:
        return text_page(text, "view-source:" + fetched.url, name)
    if kind in _HTML_TYPES or (not kind and "<html" in text[:4096].lower()):
        page = html_page(text, fetched.url)
    else:
        page = text_page(text, fetched.url, name)
    if fetched.truncated:  # cut where the size cap stopped it; say so at the end
        page.lines += ["", f"[Page cut: only its first {len(fetched.body):,} bytes were read.]"]
    return page


def _decode(fetched: Fetched) -> str:
    """The charset the server declared, else the one the page declares, else a guess."""
    from storage.documents.read_text import decode_text
    from storage.documents.units import DocumentError

    body = fetched.body
    declared = fetched.charset
    if not declared and (meta := _META_CHARSET.search(body[:4096])):
        declared = meta.group(1).decode("ascii")
    if declared:
        try:
            return body.decode(declared).replace("\r\n", "\n")
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown charset: guess instead
    try:
        return decode_text(body, "the page")
    except DocumentError:
        raise ToolError("the page is binary data, not text") from None


def _line_tokens(line: str) -> float:
    """o200k tokens of `L{n}: {line}` and its newline, estimated (no tokenizer here): about 4
    for the number, a token per 4 characters of English, nearer one per character of CJK."""
    return 4 + (len(line) + 2 * len(_WIDE.findall(line))) / 4


def _integer(value: Any, name: str) -> int:
    """The model writes numbers as JSON numbers (3 or 3.0) and sometimes as strings."""
    if isinstance(value, bool):
        raise ToolError(f"`{name}` should be an integer, not a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, int):
        return value
    raise ToolError(f"`{name}` should be an integer, not `{_cut(str(value), 40)}`")


def _cut(text: str, limit: int = 1024) -> str:
    """The reference's `maybe_truncate`."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


# -- the three Tools --------------------------------------------------------------------------


class BrowserTool:
    """`browser.<name>`, with the declaration gpt-oss was trained on (harmony's BROWSER)."""

    def __init__(self, session: BrowserSession, name: str) -> None:
        declared = next(t for t in BROWSER.tools if t.name == name)
        self.session = session
        self.spec = ToolSpec(name=name, description=declared.description,
                             parameters=declared.parameters, namespace="browser",
                             approval="never", source="built-in", reaches_network=True,
                             title=f"Browser: {name}")

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        if not isinstance(arguments, dict):
            raise ToolError("The arguments must be a JSON object.")
        args = {k: v for k, v in arguments.items() if k != "source"}  # only the web here
        if "top_n" in args:  # the reference takes either spelling
            args.setdefault("topn", args.pop("top_n"))
        # Leave a moment of the loop's own limit to report a timeout as ours.
        deadline = Deadline.after(min(self.session.limits.timeout_s,
                                      max(1.0, context.timeout_s - 2)), context.cancel)
        known = {"search": ("query", "topn"),
                 "open": ("id", "cursor", "loc", "num_lines", "view_source"),
                 "find": ("pattern", "cursor")}[self.spec.name]
        if unknown := sorted(set(args) - set(known)):
            raise ToolError(f"Unknown argument `{unknown[0]}` for browser.{self.spec.name}.")
        if self.spec.name != "open" and known[0] not in args:
            raise ToolError(f"`{known[0]}` is required.")
        call = getattr(self.session, self.spec.name)
        return call(**args, deadline=deadline)

    def close(self) -> None:
        self.session.close()


def browser_tools(session: BrowserSession) -> tuple[BrowserTool, BrowserTool, BrowserTool]:
    """browser.search, browser.open, browser.find, sharing `session`."""
    return tuple(BrowserTool(session, name) for name in ("search", "open", "find"))
