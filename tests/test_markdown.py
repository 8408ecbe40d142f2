"""What a model's answer looks like once rendered: Markdown to Qt rich text.

Each test renders some Markdown the way a model writes it and checks what the reader would
see in the message: tables, code blocks with their label and Copy link, math as text, and
nothing unsafe (no raw HTML, no fetched images, no script links).
"""

from __future__ import annotations

import re

import pytest

from app.core.markdown import _render_cached, code_blocks, to_html
from app.gui.chat.messages import AssistantMessage
from app.gui.qt import QtGui, QtWidgets

# QTextDocument needs a QGuiApplication (without one it crashes when the file runs alone).
pytestmark = pytest.mark.usefixtures("qapp")

PYTHON = '''Here you go:

```python
def greet(name):
    if name:
        return "<script>alert(1)</script>"
```
'''


def visible_text(html: str) -> str:
    """The characters the reader sees, without the markup."""
    document = QtGui.QTextDocument()
    document.setHtml(html)
    return document.toPlainText()


def test_table_has_header_and_body_cells():
    html = to_html("| Model | Size |\n|---|---:|\n| gpt-oss | 20B |\n| qwen | 8B |")
    assert "<table" in html
    assert re.search(r"<th[^>]*>Model</th>", html) and re.search(r"<td[^>]*>20B</td>", html)
    assert html.count("<tr>") == 3


def test_a_table_row_with_more_cells_than_the_header_keeps_them():
    """GFM drops a row's extra cells; the model's extra column is shown in the last one."""
    html = to_html("| Model | Size |\n|---|---|\n| gpt-oss | 20B | MoE | fast |\n| qwen |")
    assert re.search(r"<td[^>]*>20B \| MoE \| fast</td>", html)
    assert re.search(r"<td[^>]*>qwen</td>\s*<td[^>]*></td>", html)
    assert "<table" in to_html("Sizes:\n| a | b |\n|---|---|\n| 1 | 2 |"), "after a line of text"


def test_strikethrough():
    assert "<s>old price</s>" in to_html("~~old price~~ new price")


def test_task_list_shows_boxes_not_form_controls():
    html = to_html("- [ ] write tests\n- [x] read the spec")
    assert "☐ write tests" in html and "☑ read the spec" in html
    assert "<input" not in html


def test_footnote_reference_and_definition():
    html = to_html("Llamas hum.[^1]\n\n[^1]: Mostly when content.")
    assert "<sup>[1]</sup>" in html
    assert "Mostly when content." in html.split("<hr>")[1]
    assert 'href="#' not in html, "an in-page anchor would be sent to the browser"


def test_code_block_has_label_copy_link_colours_and_escaped_code():
    html = to_html(PYTHON)
    assert ">python</span>" in html
    assert '<a href="copy:0"' in html and ">Copy</a>" in html
    assert re.search(r'<span style="color:#[0-9a-fA-F]{6};[^"]*">def\b', html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'return "<script>alert(1)</script>"' in visible_text(html)


def test_code_block_without_a_known_language_is_labelled_text():
    for fence in ("```\nplain\n```", "```klingon\nplain\n```"):
        assert ">text</span>" in to_html(fence)


def test_copy_links_number_blocks_as_code_blocks_lists_them():
    text = ("```js\nconst a = 1;\n```\n\nthen, indented:\n\n    keep  the   spaces\n\n"
            "- in a list:\n\n  ```\n  if x:\n      y()\n  ```\n")
    html = to_html(text)
    assert [int(n) for n in re.findall(r'href="copy:(\d+)"', html)] == [0, 1, 2]
    assert code_blocks(text) == ["const a = 1;", "keep  the   spaces", "if x:\n    y()"]
    assert code_blocks(PYTHON) == [
        'def greet(name):\n    if name:\n        return "<script>alert(1)</script>"']


def test_inline_math_becomes_unicode_in_italics():
    html = to_html(r"Energy: $\alpha^2 + \beta_1$, or \(\frac{a+b}{2}\).")
    assert "<i>α² + β₁</i>" in html and "<i>(a+b)/2</i>" in html
    assert "$" not in html and "\\" not in html


def test_display_math_is_its_own_centred_paragraph():
    for text in ("So:\n$$\n\\sum_{i=1}^n i\n$$", "So:\n\n\\[\n\\sum_{i=1}^n i\n\\]"):
        assert '<p align="center"><i>∑ᵢ₌₁ⁿ i</i></p>' in to_html(text)


def test_prices_are_not_math():
    html = to_html("It costs $5 and $10, or US$3 to $4.")
    assert "<i>" not in html and "$5 and $10" in html


def test_broken_latex_shows_its_source():
    html = to_html(r"Oops $\frac{1$ and \(\end{x}\) and $}{$")
    assert "<i>\\frac{1</i>" in html and "<i>\\end{x}</i>" in html and "<i>}{</i>" in html


def test_math_delimiters_inside_code_stay_code():
    html = to_html("`$x$ \\(y\\)`\n\n```\n$$z$$ \\[w\\]\n```")
    assert "<code" in html and "$x$ \\(y\\)</code>" in html
    assert "$$z$$ \\[w\\]" in visible_text(html)


def test_raw_html_is_shown_as_text():
    html = to_html("<img src=x onerror=alert(1)> and <b>bold?</b>\n\n<script>x</script>")
    assert "<img" not in html and "<script>" not in html and "<b>" not in html
    assert "<img src=x onerror=alert(1)>" in visible_text(html)


def test_image_becomes_a_link_and_is_never_loaded():
    html = to_html("![tracker](http://evil/track.png)")
    assert "<img" not in html
    assert '<a href="http://evil/track.png">[image: tracker]</a>' in html


def test_only_web_and_mail_links_are_links():
    html = to_html("[a](javascript:alert(1)) [b](file:///etc/passwd) [c](data:text/html,x) "
                   "[d](https://example.com) [e](mailto:me@example.com) <https://f.example>")
    assert re.findall(r'href="([^"]*)"', html) == [
        "https://example.com", "mailto:me@example.com", "https://f.example"]
    assert "[a](javascript:alert(1))" in visible_text(html)


def test_dark_theme_changes_code_colours():
    light, dark = to_html(PYTHON), to_html(PYTHON, dark=True)
    def colours(html: str) -> set[str]:
        return set(re.findall(r"color:#([0-9a-fA-F]{6})", html))
    assert colours(light) != colours(dark)


def test_unterminated_fence_while_streaming_shows_the_code_so_far():
    partial = "Start:\n\n```python\nimport os\nprint(os.get"
    html = to_html(partial)
    assert "copy:0" in html and "print(os.get" in visible_text(html)
    assert code_blocks(partial) == ["import os\nprint(os.get"]


def test_streamed_answer_renders_the_same_as_the_finished_one():
    answer = (PYTHON + "\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n\n- two\n\n"
              "$$x^2$$\n\n```sh\necho hi\n```\n\n> quoted\n> text\n")
    for end in range(1, len(answer) + 1, 7):
        to_html(answer[:end])  # what the message shows while the answer streams in
    streamed = to_html(answer)
    _render_cached.cache_clear()  # as if reopened after a restart
    assert streamed == to_html(answer)
    assert [int(n) for n in re.findall(r'href="copy:(\d+)"', streamed)] == [0, 1]


def test_label_shows_the_rendered_answer(qtbot):
    label = QtWidgets.QLabel()
    qtbot.addWidget(label)
    label.setText(to_html(PYTHON))
    assert label.text()
    document = QtGui.QTextDocument()
    document.setHtml(label.text())
    frames = document.rootFrame().childFrames()
    assert any(isinstance(frame, QtGui.QTextTable) for frame in frames)
    assert "def greet(name):" in document.toPlainText()


def test_assistant_message_renders_its_answer_as_it_streams(qtbot):
    widget = AssistantMessage()
    qtbot.addWidget(widget)
    for piece in ("Use **this**:\n\n", "```python\nx = 1\n", "```\n"):
        widget.append_answer(piece)
    assert "<strong>this</strong>" in widget.answer.text()
    assert 'href="copy:0"' in widget.answer.text()


def test_streaming_an_answer_in_pieces_renders_exactly_as_rendering_it_whole():
    """to_html_blocks re-parses only the open end of a growing answer; a list that continues
    after a blank line, a "1" that becomes "1. item", a setext heading, a late link reference
    must all come out as a whole render gives them."""
    import random

    from app.core import markdown

    pieces = ["# Title\n", "\n", "Some *text* here.\n", "```python\n", "x = [1]\n", "```\n",
              "- item\n", "| a | b |\n", "|---|---|\n", "| 1 | 2 |\n", "> quote\n", "more\n",
              "1. first\n", "    indented\n", "text $x^2$\n", "Setext\n", "===\n", "---\n",
              "$$\nE=mc^2\n$$\n", "[ref]: http://x.org\n", "see [ref]\n", "\n\n", "1", ". ", "-", " "]
    rng = random.Random(7)
    for _ in range(300):
        doc = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 20)))
        markdown._streams.clear()
        end = 0
        while end < len(doc):
            end = min(len(doc), end + rng.randint(1, 12))
            streamed = markdown.to_html_blocks(doc[:end])
            state = dict(markdown._streams)
            markdown._streams.clear()
            assert "".join(streamed) == to_html(doc[:end]), doc[:end]
            markdown._streams.update(state)


def _nested(depth: int) -> dict[str, str]:
    """Answers nesting `depth` deep, each block holding its own words (the deepest only on
    one line past 100 levels: an indented line per level grows as the square of the depth)."""
    one_line = {"one line": "- > 1. " * (depth // 3 + 1) + "inline words\n\nafter the list\n"}
    if depth > 100:
        return one_line
    return {
        **one_line,
        "quotes": "".join(">" * level + f" quote{level}\n" for level in range(1, depth + 1)),
        "bullets": "".join("  " * level + f"- bullet{level}\n" for level in range(depth)),
        "numbers": "".join("   " * level + f"1. number{level}\n" for level in range(depth)),
        "outline": "".join("  " * level + f"- point{level}\n\n" + "  " * (level + 1)
                           + f"detail{level} **bold{level}**\n\n" for level in range(depth)),
    }


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z0-9]*", text)  # list numbers are markers, not words


def test_markdown_nested_past_the_parser_limit_keeps_every_word():
    """markdown-it drops everything past its nesting limit (20 levels: 10 lists) without a
    trace; past Hearth's depth the rest of the block shows as text, markers and all."""
    for depth in (9, 10, 11, 12, 25, 60, 3000):
        for kind, answer in _nested(depth).items():
            html = to_html(answer)
            shown = visible_text(html)
            missing = [word for word in _words(answer) if word not in shown]
            assert not missing, (kind, depth, missing[:5])
    deep = to_html("".join("  " * level + f"- item{level}\n" for level in range(14)))
    assert "<li>item8<ul>" in deep, "nine levels of lists stay lists"
    assert "- item10\n  - item11" in visible_text(deep), "deeper ones read as the source"


def test_deep_nesting_ends_where_its_block_ends():
    """The text shown for a too-deep block stops at its block's end: what follows the list
    is Markdown again."""
    answer = "- " * 12 + "deep item\n- " + "- " * 11 + "its sibling\n\n# Heading\n\n**bold**"
    html = to_html(answer)
    assert "<h1>Heading</h1>" in html and "<strong>bold</strong>" in html
    assert "deep item" in visible_text(html) and "its sibling" in visible_text(html)


def test_a_deep_answer_streams_as_it_renders_whole():
    from app.core import markdown

    answer = "\n".join(_nested(24).values())
    markdown._streams.clear()
    for end in range(1, len(answer) + 1, 61):
        streamed = "".join(markdown.to_html_blocks(answer[:end]))
        state = dict(markdown._streams)
        markdown._streams.clear()
        assert streamed == to_html(answer[:end]), answer[:end]
        markdown._streams.clear()
        markdown._streams.update(state)


def test_a_long_code_block_streams_in_pieces_as_it_renders_whole():
    """Split for the window (a label per 20 lines), a growing code block re-renders only its
    last piece; every step must equal rendering that text at once, for lexers that carry
    their state over a seam (Python, C), one that cannot (Ruby) and none (an unknown name)."""
    import random

    from app.core import markdown
    from app.core.markdown_code import PIECE

    rng = random.Random(11)
    bodies = {
        "python": ['def f(x):', '    """Doc', '    string"""', '', '    return x  # c', "s = '<&>'"],
        "c": ["/* a comment", "   over lines */", "int x = 1;", "", "#include <stdio.h>"],
        "ruby": ["x = <<~EOS", "  heredoc", "EOS", "puts x", ""],
        "nosuchlang": ["plain <text> & more", "", "  indented"],
    }
    for language, lines in bodies.items():
        code = "\n".join(rng.choice(lines) for _ in range(130))
        for fence in ("```", "  ~~~~"):
            doc = f"Intro.\n\n{fence}{language}\n{code}\n{fence.strip()}\n\nAfter the code.\n"
            markdown._streams.clear()
            end = 0
            while end < len(doc):
                end = min(len(doc), end + rng.choice([1, 7, 60, 400]))
                streamed = markdown.to_html_blocks(doc[:end], split=True)
                state = dict(markdown._streams)
                markdown._streams.clear()
                assert streamed == markdown.to_html_blocks(doc[:end], split=True), (language, end)
                markdown._streams.update(state)
            assert max(block.count(PIECE) for block in streamed) >= 6
            unsplit = to_html(doc)  # one table, as exports show it
            assert visible_text("".join(streamed).replace(PIECE, "")).split() == \
                visible_text(unsplit).split()
