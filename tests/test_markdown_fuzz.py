"""Fuzzing the Markdown renderer (app/core/markdown.py): whatever a model writes gives HTML,
never an exception, in bounded time, and no word of it is lost, however deeply it nests."""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import HealthCheck, given, settings, strategies as st

from app.core import markdown
from app.core.markdown import to_html

FUZZ = settings(max_examples=300, deadline=3000, suppress_health_check=[HealthCheck.too_slow])

# What Markdown gives meaning to, in pieces a model might write; not footnotes ("^") nor
# link URLs: a footnote or link definition nothing refers to is hidden, by design.
MARKERS = ["\n", "\n\n", " ", "  ", "    ", "\t", ">", "> ", "- ", "* ", "+ ", "1. ", "2) ",
           "#", "# ", "*", "**", "_", "__", "~~", "`", "```", "~~~", "|", "|---", "---", "===",
           "[", "]", "(", ")", "![", "](", "\\", "<", ":", "\"", "$", "$$", "&", ";",
           "\\(", "\\[", "- [ ] "]
# Words start with a letter: a number before "." or ")" is an ordered list's marker.
WORDS = st.from_regex(r"[a-zA-Z][a-zA-Z0-9]{0,7}", fullmatch=True)
CONTAINERS = [">", "> ", "- ", "* ", "1. ", "+ ", "  ", "   "]


def shown(page: str) -> str:
    """What a reader can see of the HTML: its text, and where links and lists point; NFKC,
    so that math's x₁ counts as x1."""
    attributes = " ".join(re.findall(r'(?:href|title|start)="([^"]*)"', page))
    text = html.unescape(re.sub(r"<[^>]*>", " ", page)) + " " + html.unescape(attributes)
    return unicodedata.normalize("NFKC", text)


def notation(text: str) -> str:
    """Words that stand for something else: after a code fence's backticks, its language
    (shown as the block's label, or "text"); after a backslash, a LaTeX command ($\\alpha$
    shows as α)."""
    fences = re.findall(r"(?m)^[ \t>*+\-\d.)]*(?:`{3,}|~{3,})(.*)$", text)
    return " ".join(fences + re.findall(r"\\[A-Za-z0-9]+", text))


def assert_every_word_shown(text: str, words: list[str]) -> None:
    markdown._streams.clear()  # each example is a new answer
    page = shown(to_html(text))
    excused = notation(text)
    missing = [word for word in words if word not in page and word not in excused]
    assert not missing, (text, missing)


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_renders(text):
    markdown._streams.clear()
    assert isinstance(to_html(text), str)
    assert isinstance(to_html(text, dark=True), str)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(MARKERS), WORDS.map(lambda w: [w])), max_size=80))
def test_markdown_keeps_every_word(pieces):
    words = [piece[0] for piece in pieces if isinstance(piece, list)]
    text = "".join(piece[0] if isinstance(piece, list) else piece for piece in pieces)
    assert_every_word_shown(text, words)


@FUZZ
@given(st.lists(st.tuples(st.lists(st.sampled_from(CONTAINERS), max_size=60), WORDS,
                          st.sampled_from(["\n", "\n\n"])), min_size=1, max_size=12))
def test_deep_nesting_keeps_every_word(lines):
    """Quotes and lists nested up to 60 deep, each line at its own depth: markdown-it drops
    what lies past its nesting limit; Hearth shows it as text."""
    text = "".join("".join(containers) + word + end for containers, word, end in lines)
    assert_every_word_shown(text, [word for _, word, _ in lines])
