"""Pages as the browser shows them, over arbitrary input: never an exception but ToolError,
lines as the reference wraps them, and no link the page itself did not make."""

from __future__ import annotations

import itertools
import re
import textwrap

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.core.tools.base import ToolError
from app.core.tools.browser import _render
from app.core.tools.browser_fetch import Fetched
from app.core.tools.browser_page import html_page, wrap_lines

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
LINK = re.compile(r"【(\d+)†[^†】]+(?:†[^†】]+)?】")

_TAGS = ["<p>", "</p>", "<div>", "</div>", "<a href='/x'>", "<a href='https://o.example/y'>",
         "<a href='#f'>", "<a href='mailto:m'>", "</a>", "<ul>", "<ol start='x'>", "<li>",
         "</li>", "</ul>", "</ol>", "<pre>", "</pre>", "<br>", "<hr>", "<h2>", "</h2>",
         "<table><tr><td>", "</td><td>", "</td></tr></table>", "<blockquote>", "</blockquote>",
         "<img alt='i'>", "<sup>", "</sup>", "<script>", "</script>", "<!-- c -->", "<q>",
         "<dl><dt>", "<dd>", "<b>", "</b>", "<p hidden>", "<?pi x?>", "【", "】", "†", "\t",
         "\x00", "\x1b", "&amp;", "&#0;", " ", "\n", "word", "-", "<a href='http://[bad'>"]


def _reference_wrap(text: str) -> list[str]:
    """gpt-oss's simple_browser_tool.wrap_lines (Apache-2.0), as it is."""
    return list(itertools.chain.from_iterable(
        (textwrap.wrap(line, width=80, replace_whitespace=False, drop_whitespace=False)
         if line else [""]) for line in text.split("\n")))


@FUZZ
@given(st.text(st.sampled_from(list("ab -\t\n—")) | st.characters(), max_size=400))
@example("x" * 250)  # one long word
@example("longer-" * 30)  # textwrap breaks after hyphens
def test_lines_wrap_exactly_as_the_reference_wraps_them(text):
    assert wrap_lines(text) == _reference_wrap(text)


@FUZZ
@given(st.lists(st.sampled_from(_TAGS) | st.text(max_size=8), max_size=60).map("".join))
def test_any_html_becomes_a_page_whose_only_links_are_the_pages_links(html):
    page = html_page(html, "https://site.example/dir/page")
    assert page.lines[:2] == ["", "URL: https://site.example/dir/page"]
    assert all(len(line) <= 80 for line in page.lines)
    whole = "".join(page.lines)  # wrapping may split a link; it never drops a character
    assert whole.count("【") == whole.count("】") == len(LINK.findall(whole))
    assert {int(i) for i in LINK.findall(whole)} <= set(page.links)


@FUZZ
@given(st.binary(max_size=3000),
       st.sampled_from(["text/html", "text/plain", "application/pdf", "", "image/png",
                        "application/xhtml+xml"]),
       st.sampled_from([None, "utf-8", "latin-1", "bogus", "utf-16"]),
       st.booleans())
def test_any_bytes_become_a_page_or_a_tool_error(body, content_type, charset, view_source):
    fetched = Fetched("https://site.example/x", 200, content_type, charset, body, False)
    try:
        page = _render(fetched, view_source)
    except ToolError:
        return
    assert all(len(line) <= 80 for line in page.lines)
