"""gpt-oss's browser tool against a local web server standing in for SearXNG and for pages.

What the model reads must be what it was trained to read: a whole session of calls is
compared with what OpenAI's reference browser shows for the same pages
(tests/fixtures/browser/reference_session.json, written by make_reference.py there).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from pathlib import Path

import pytest
from fixtures.web import WebServer, page, redirect, searxng

from app.core.tools.base import ToolContext, ToolError
from app.core.tools.browser import (
    BrowserSession,
    FetchLimits,
    SearxngBackend,
    browser_tools,
    find_citations,
)
from common.errors import UserError
from inference.harmony_tools import BROWSER

HERE = Path(__file__).parent / "fixtures" / "browser"
REFERENCE = json.loads((HERE / "reference_session.json").read_text(encoding="utf-8"))
ARTICLE = (HERE / "article.html").read_text(encoding="utf-8")
LONG = (HERE / "long.html").read_text(encoding="utf-8")


@pytest.fixture
def web():
    server = WebServer()
    yield server
    server.close()


class Browser:
    """The three tools over one session, called as the tool loop calls them."""

    def __init__(self, session: BrowserSession) -> None:
        self.session = session
        self.tools = {tool.spec.name: tool for tool in browser_tools(session)}
        self.context = ToolContext(conversation_id=1, data_dir=Path("."), timeout_s=60)

    def __call__(self, name: str, **arguments):
        return self.tools[name].run(arguments, self.context)

    def error(self, name: str, **arguments) -> str:
        with pytest.raises(ToolError) as caught:
            self(name, **arguments)
        return str(caught.value)


@pytest.fixture
def browser(web):
    results = [{"title": t, "url": u.replace("http://HOST", web.base), "content": c}
               for t, u, c in REFERENCE["results"]]
    web.route("/search", searxng(results))
    web.route("/article", page(ARTICLE))
    web.route("/long", page(LONG))
    session = BrowserSession(SearxngBackend(web.base), FetchLimits(allow_local=True, timeout_s=5))
    yield Browser(session)
    session.close()


def within(seconds: float, call):
    """Runs `call` on a thread; fails (rather than hangs) if it is not over in `seconds`."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- what the model is offered ------------------------------------------------------------------


def test_the_three_tools_are_declared_as_gpt_oss_was_trained(browser):
    declared = {tool.name: tool for tool in BROWSER.tools}
    assert list(browser.tools) == ["search", "open", "find"]
    for name, tool in browser.tools.items():
        spec = tool.spec
        assert spec.recipient == f"browser.{name}" and spec.namespace == "browser"
        assert spec.parameters == declared[name].parameters
        assert spec.description == declared[name].description
        assert spec.reaches_network and spec.approval == "never" and spec.source == "built-in"


# -- the same text as the reference ----------------------------------------------------------------


def test_a_session_reads_exactly_as_in_openais_reference_browser(browser, web):
    """Search, open a result, find, follow a find match, scroll, the errors: every text the
    model reads equals the reference's (trailing spaces aside), cursors and lines included.
    One allowance: without `num_lines` the reference fills a view with 1,024 o200k tokens,
    which Hearth estimates without the tokenizer, so such a view may end a few lines apart."""
    host = web.base.removeprefix("http://")
    for step in REFERENCE["session"]:
        expected = step["text"].replace("HOST", host).split("\n")
        try:
            text = browser(step["call"], **step["arguments"]).text
        except ToolError as exc:
            text = str(exc)
        got = [line.rstrip() for line in text.split("\n")]
        where = f"{step['call']} {step['arguments']}"
        if len(expected) < 3 or "num_lines" in step["arguments"]:
            assert got == expected, where
            continue
        assert got[0] == expected[0], where  # [cursor] title (url)
        (start, end, total), (start_, end_, total_) = _scrollbar(got[1]), _scrollbar(expected[1])
        assert (start, total) == (start_, total_), where
        assert abs(end - end_) <= (end_ - start_) // 10, where
        shown = min(end, end_) - start + 1
        assert got[2:3 + shown] == expected[2:3 + shown], where


def _scrollbar(line: str) -> tuple[int, int, int]:
    """(first, last, total) from `**viewing lines [first - last] of total**`."""
    match = re.fullmatch(r"\*\*viewing lines \[(\d+) - (\d+)\] of (\d+)\*\*", line)
    assert match, line
    return int(match[1]), int(match[2]), int(match[3])


def test_search_asks_searxng_for_json_and_shows_topn_results(browser, web):
    out = browser("search", query="dogs & cats", topn=2)
    assert web.seen[-1].query == {"q": ["dogs & cats"], "format": ["json"]}
    assert "【1†Second & Co†two.example】" in out.text and "【2†" not in out.text
    assert out.pages == (web.url("/search?q=dogs+%26+cats&format=json"),)
    assert browser("search", query="more", topn=50.0).text.count("  * 【") == 3


def test_results_cannot_forge_links_or_markup(web):
    """A title or snippet is text: its brackets and tags show as written, never as a link."""
    web.route("/search", searxng([{"title": "<b>Bold</b> 【9†fake】", "url": "https://a.example/",
                                   "content": "<script>x</script> & more"}]))
    browser = Browser(BrowserSession(SearxngBackend(web.base + "/")))
    text = browser("search", query="q").text
    assert "L4:   * 【0†<b>Bold</b> 〖9‡fake〗†a.example】 <script>x</script> & more" in text


# -- open, scroll, find, cite ----------------------------------------------------------------------


def test_open_by_id_uses_the_page_already_fetched_and_by_url_fetches_again(browser, web):
    browser("search", query="q")
    browser("open", id=0)
    browser("open", cursor=0, id=0)
    assert web.paths().count("/article") == 1
    out = browser("open", id=web.url("/article"))
    assert web.paths().count("/article") == 2
    assert out.text.startswith(f"[3] One Page ({web.url('/article')})")
    assert out.pages == (web.url("/article"),)
    # A link id written as a string is still a link id.
    assert browser("open", cursor=0, id="0").text.startswith("[4] One Page")


def test_links_lead_where_the_page_says(browser, web):
    web.route("/rel", page("<title>Rel</title><p>relative target</p>"))
    browser("open", id=web.url("/article"))
    out = browser("open", id=2)  # 【2†relative link】
    assert out.text.startswith(f"[1] Rel ({web.url('/rel')})") and "L2: relative target" in out.text


def test_scrolling_shows_the_lines_asked_for_under_a_new_cursor(browser, web):
    browser("open", id=web.url("/long"))
    first = browser("open", loc=0, num_lines=3)
    assert first.text.splitlines()[:6] == [
        f"[1] Long ({web.url('/long')})", "**viewing lines [0 - 2] of 334**", "",
        "L0: ", f"L1: URL: {web.url('/long')}", "L2: ## Section 0"]
    last = browser("open", cursor=0, loc=330)
    assert "**viewing lines [330 - 334] of 334**" in last.text and "L334: " in last.text
    assert "Cannot exceed page maximum of 334" in browser.error("open", loc=335)
    assert browser("open", loc=1, num_lines=1).text.startswith("[3] ")  # no cursor was spent


def test_find_is_case_insensitive_and_its_matches_open_a_few_lines_above(browser, web):
    browser("open", id=web.url("/article"))
    found = browser("find", pattern="Another DIV")
    assert "L0: # 【0†match at L51】" in found.text and found.pages == ()
    assert "[2] One Page" in browser("open", id=0).text.splitlines()[0]
    assert "**viewing lines [47 - 51] of 51**" in browser("open", cursor=2, loc=47).text
    assert browser.error("find", pattern="x", cursor=1) == (
        "Cannot run `find` on search results page or find results page")


def test_view_source_shows_the_html_itself(browser, web):
    browser("open", id=web.url("/article"))
    source = browser("open", view_source=True, num_lines=4)
    assert source.text.startswith(f"[1] article (view-source:{web.url('/article')})")
    assert "L2: <!DOCTYPE html><html><head><title>One \nL3: Page</title><style>" in source.text
    browser("find", pattern="div")
    browser("open", view_source=True)  # of a find results page: nothing to fetch
    assert web.paths() == ["/article", "/article"]


def test_search_takes_top_n_as_the_reference_does(browser):
    assert browser("search", query="q", top_n=1).text.count("  * 【") == 1


def test_citations_name_a_cursor_and_lines_the_model_saw(browser, web):
    browser("search", query="q")
    out = browser("open", id=0)
    assert out.citations == ({"key": "1", "label": "One Page", "url": web.url("/article"),
                              "lines": [0, 51]},)
    answer = "Bold text 【1†L6-L7】, a quote 【1†L25】 and nothing 【7†L1】."
    cited = find_citations(answer)
    assert [(c.cursor, c.start, c.end) for c in cited] == [(1, 6, 7), (1, 25, 25), (7, 1, 1)]
    assert answer[slice(*cited[0].span)] == "【1†L6-L7】"
    url, title, text = browser.session.cited(1, 6, 7)
    assert (url, title) == (web.url("/article"), "One Page")
    assert text == out.text.split("L6: ")[1].split("\nL8: ")[0].replace("L7: ", "")
    assert browser.session.cited(7, 1, 1) is None and browser.session.cited(1, 50, 60) is None


# -- the model's mistakes and unreachable things: a message back, nothing else ------------------


def test_mistakes_are_answered_in_the_references_words(browser, web):
    assert browser.error("open", id=1) == "No pages to access!"
    assert browser.error("find", pattern="a") == "No pages to access!"
    browser("search", query="q")
    assert browser.error("open", id=7) == "Invalid link id `7`."
    assert browser.error("open", cursor=3) == (
        "Cursor `3` is out of range. Available cursor indices: [0 - 0].")
    assert "`cursor` should be an integer" in browser.error("open", cursor=1.5)
    assert "Unknown argument `bogus`" in browser.error("open", bogus=1)
    assert browser.error("search") == "`query` is required."


@pytest.mark.parametrize("address, reason", [
    ("ftp://127.0.0.1/file", "only http and https addresses can be opened"),
    ("file:///etc/passwd", "only http and https addresses can be opened"),
    ("javascript:alert(1)", "only http and https addresses can be opened"),
    ("http:///nohost", "the address names no host"),
])
def test_only_web_addresses_open(browser, address, reason):
    assert browser.error("open", id=address) == f"Error fetching URL `{address}`: {reason}"


def test_an_error_page_or_a_closed_server_is_a_message(browser, web):
    assert browser.error("open", id=web.url("/missing")).endswith("the server answered HTTP 404")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert "could not connect" in browser.error("open", id=f"http://127.0.0.1:{port}/")
    down = Browser(BrowserSession(SearxngBackend(f"http://127.0.0.1:{port}")))
    assert down.error("search", query="q").startswith("Error during search for `q`: could not")


def test_a_searxng_without_json_says_how_to_allow_it(web):
    web.route("/search", page("<html>Forbidden</html>", status=403))
    browser = Browser(BrowserSession(SearxngBackend(web.base)))
    assert "allow the json format under search.formats" in browser.error("search", query="q")
    web.route("/search", page("<html>not json</html>"))
    assert browser.error("search", query="q").endswith("SearXNG did not answer with JSON")


def test_no_backend_or_a_bad_backend_address():
    assert "No search backend" in Browser(BrowserSession(None)).error("search", query="q")
    with pytest.raises(UserError, match="must start with http"):
        SearxngBackend("localhost:8888")


# -- hostile pages ------------------------------------------------------------------------------


def test_redirects_are_followed_a_few_times_and_loops_are_not(browser, web):
    web.route("/one", redirect("/two"))
    web.route("/two", redirect(web.url("/article"), status=301))
    out = browser("open", id=web.url("/one"))
    assert out.text.startswith(f"[0] One Page ({web.url('/article')})")
    assert out.pages == (web.url("/one"), web.url("/two"), web.url("/article"))
    web.route("/loop", redirect("/loop"))
    assert browser.error("open", id=web.url("/loop")).endswith("too many redirects (more than 5)")
    assert web.paths().count("/loop") == 6


def test_an_endless_page_is_cut_at_the_size_cap(web):
    from fixtures.web import endless

    web.route("/endless", endless(web))
    browser = Browser(BrowserSession(None, FetchLimits(allow_local=True, max_bytes=1_000_000)))
    out = within(60, lambda: browser("open", id=web.url("/endless")))
    assert "L2: forever and ever" in out.text
    total = int(out.text.split(" of ")[1].split("*")[0])
    tail = browser("open", loc=total - 1).text
    assert "[Page cut: only its first 1,000,000 bytes were read.]" in tail


def test_a_compressed_page_is_cut_at_the_size_cap_once_expanded(web):
    from fixtures.web import gzip_bomb

    web.route("/bomb", gzip_bomb(50_000_000))  # ~50 KB on the wire
    browser = Browser(BrowserSession(None, FetchLimits(allow_local=True, max_bytes=2_000_000)))
    out = within(60, lambda: browser("open", id=web.url("/bomb")))
    total = int(out.text.split(" of ")[1].split("*")[0])
    assert total < 2_000_000 // 80 + 10  # what 2 MB of text makes, not 50 MB
    assert "bytes were read" in browser("open", loc=total).text


@pytest.mark.parametrize("kind", ["drip", "silent"])
def test_a_slow_server_times_out(web, kind):
    import fixtures.web as fixtures

    web.route("/slow", getattr(fixtures, kind)(web))
    browser = Browser(BrowserSession(None, FetchLimits(allow_local=True, timeout_s=2,
                                                       read_timeout_s=1)))
    message = within(30, lambda: browser.error("open", id=web.url("/slow")))
    assert message == f"Error fetching URL `{web.url('/slow')}`: timed out"


def test_a_cancelled_call_stops(web):
    from fixtures.web import drip

    web.route("/slow", drip(web, interval_s=0.05))
    browser = Browser(BrowserSession(None, FetchLimits(allow_local=True, timeout_s=60)))
    threading.Timer(0.5, browser.context.cancel.set).start()
    assert within(30, lambda: browser.error("open", id=web.url("/slow"))).endswith("Cancelled.")


@pytest.mark.parametrize("body, content_type, expected", [
    ("<meta charset='iso-8859-1'><p>Crème brûlée</p>".encode("latin-1"), "text/html",
     "Crème brûlée"),
    ("<p>Crème brûlée</p>".encode("cp1252"), "text/html; charset=windows-1252", "Crème brûlée"),
    ("Ça coûte 5 € — “cher”".encode("cp1252"), "text/plain", "Ça coûte 5 € — “cher”"),
    ("<p>Привет, мир</p>".encode("koi8-r"), "text/html; charset=koi8-r", "Привет, мир"),
    ("<p>declared utf-8, is latin-1: Crème</p>".encode("latin-1"), "text/html; charset=utf-8",
     "Crème"),
    (b"<p>no type at all</p><html>", None, "no type at all"),
])
def test_pages_in_other_encodings_read_as_text(browser, web, body, content_type, expected):
    web.route("/enc", page(body, content_type))
    assert expected in browser("open", id=web.url("/enc")).text


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream", None])
def test_binary_garbage_is_refused(browser, web, content_type):
    import random

    noise = random.Random(7).randbytes(300_000)
    web.route("/bin", page(noise, content_type))
    message = browser.error("open", id=web.url("/bin"))
    assert message.startswith(f"Error fetching URL `{web.url('/bin')}`: the page is")


def test_deeply_nested_html_reads_up_to_the_parsers_limit(browser, web):
    nested = "<p>before</p>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "<p>after</p>"
    web.route("/deep", page(nested))
    text = within(60, lambda: browser("open", id=web.url("/deep")).text)
    assert "L2: before" in text and "nested too deeply to read" in text
    web.route("/tags", page("<b><i>" * 200_000 + "unclosed"))
    within(60, lambda: browser("open", id=web.url("/tags")))


def test_a_pdf_opens_as_its_text(browser, web):
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle("A Paper")
    pdf.drawString(72, 720, "Results of the experiment")
    pdf.showPage()
    pdf.drawString(72, 720, "Second page text")
    pdf.save()
    web.route("/paper.pdf", page(buffer.getvalue(), "application/pdf"))
    text = browser("open", id=web.url("/paper.pdf")).text
    assert text.startswith(f"[0] A Paper ({web.url('/paper.pdf')})")
    assert "Results of the experiment" in text and "Second page text" in text
    web.route("/broken.pdf", page(b"%PDF-1.4 garbage", "application/pdf"))
    assert "not a valid PDF" in browser.error("open", id=web.url("/broken.pdf"))


# -- what is contacted --------------------------------------------------------------------------


def test_pages_on_this_computer_are_refused_unless_allowed(web):
    """The SearXNG the person set up may be local; a page the model opens may not."""
    web.route("/search", searxng([{"title": "Local", "url": web.url("/article")}]))
    web.route("/article", page(ARTICLE))
    browser = Browser(BrowserSession(SearxngBackend(web.base)))
    browser("search", query="q")
    assert "on this computer or the local network" in browser.error("open", id=0)
    for address in ("http://localhost:1/", "http://10.0.0.1/", "http://[::1]:1/",
                    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0:1/"):
        assert "on this computer or the local network" in browser.error("open", id=address)
    assert web.paths() == ["/search?q=q&format=json"]


_watching: list | None = None


def _audit(event: str, args: tuple) -> None:
    if _watching is not None:
        if event == "socket.connect" and args[0].family != socket.AF_UNIX:
            _watching.append(("connect", args[1][:2]))
        elif event == "socket.getaddrinfo":
            _watching.append(("resolve", args[0]))


def test_nothing_but_the_backend_and_the_pages_opened_is_contacted(browser, web):
    """An audit hook sees every connection and name lookup Python makes."""
    global _watching
    sys.addaudithook(_audit)  # cannot be removed; inert once _watching is None
    _watching = []
    try:
        browser("search", query="q")
        browser("open", id=0)
        browser("find", pattern="link")
        browser("open", id=0)
        browser("open", loc=5)
        browser("open", id=web.url("/long"))
        browser.session.close()
    finally:
        seen, _watching = _watching, None
    assert {what for what in seen} <= {("connect", ("127.0.0.1", web.port)),
                                       ("resolve", "127.0.0.1")}
    assert web.paths() == ["/search?q=q&format=json", "/article", "/long"]
    assert all(s.headers["user-agent"].startswith("Mozilla/5.0 (compatible; Hearth/")
               for s in web.seen)


def test_a_closed_session_opens_again_on_the_next_call(browser, web):
    browser("open", id=web.url("/article"))
    for tool in browser.tools.values():
        tool.close()
    assert browser("open", id=web.url("/article")).text.startswith("[1] One Page")
