"""Where `browser.search` gets its results: a search backend the person names in Settings.

`SearchBackend` is the seam: SearXNG (a metasearch engine people run themselves, queried
through its JSON API) is the one implemented; an API with a key (Brave, Tavily…) is another
class with the same `search`, sending its key in a header through the same `Fetcher`.
Results become a page the way OpenAI's reference browser makes them (gpt_oss/tools/
simple_browser/backend.py, Apache-2.0): a small HTML list of links with their snippets,
rendered like any page, titled with the query, with an empty URL.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from common.errors import UserError

from .base import ToolError
from .browser_fetch import Deadline, Fetcher
from .browser_page import Page, html_page


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""


class SearchBackend(Protocol):
    """A search service. `search` raises ToolError with a short reason on failure."""

    label: str  # for people: "SearXNG at http://localhost:8888"

    def search(self, query: str, count: int, fetcher: Fetcher, deadline: Deadline,
               contacted: list[str]) -> list[SearchResult]:
        ...


class SearxngBackend:
    """A SearXNG instance's JSON API: GET {base}/search?q=…&format=json. The instance must
    allow the json format (`search.formats` in its settings.yml; off by default)."""

    def __init__(self, base_url: str) -> None:
        base = base_url.strip().rstrip("/")
        base = base.removesuffix("/search")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError("The SearXNG address must start with http:// or https:// and name "
                            "a server, for example http://localhost:8888")
        self.base_url = base
        self.label = f"SearXNG at {base}"

    def search(self, query: str, count: int, fetcher: Fetcher, deadline: Deadline,
               contacted: list[str]) -> list[SearchResult]:
        url = f"{self.base_url}/search?{urlencode({'q': query, 'format': 'json'})}"
        # The person chose this server, so it may be on this machine or the local network.
        fetched = fetcher.get(url, deadline, contacted, local_ok=True,
                              headers={"Accept": "application/json"})
        if fetched.status == 403:
            raise ToolError("SearXNG refused to answer in JSON (HTTP 403): allow the json "
                            "format under search.formats in its settings.yml")
        if fetched.status != 200:
            raise ToolError(f"SearXNG answered HTTP {fetched.status}")
        if fetched.truncated:
            raise ToolError("SearXNG's answer was too large")
        try:
            data = json.loads(fetched.body)
        except (ValueError, UnicodeDecodeError):
            raise ToolError("SearXNG did not answer with JSON") from None
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ToolError("SearXNG's answer has no results list")
        found = []
        for item in results:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                continue
            title = item.get("title") if isinstance(item.get("title"), str) else ""
            snippet = item.get("content") if isinstance(item.get("content"), str) else ""
            found.append(SearchResult(title or item["url"], item["url"], snippet))
            if len(found) == count:
                break
        return found


def results_page(query: str, results: list[SearchResult]) -> Page:
    """The reference's results page (its HTML, escaped here), rendered as any page is."""
    items = "".join(
        f"<li><a href='{html.escape(r.url)}'>{html.escape(r.title)}</a> "
        f"{html.escape(r.snippet)}</li>" for r in results)
    source = f"\n<html><body>\n<h1>Search Results</h1>\n<ul>\n{items}\n</ul>\n</body></html>\n"
    return html_page(source, "", title=query)
