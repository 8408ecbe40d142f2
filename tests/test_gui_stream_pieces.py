"""A long code block streamed into a real message: shown in pieces (a label each, so an update
lays out only the last one), and still read, copied and finished as one block."""

from __future__ import annotations

import random

import pytest

from app.core import markdown
from app.core.markdown_code import CHUNK_LINES
from app.gui.chat.message_parts import _label
from app.gui.chat.messages import AssistantMessage
from app.gui.qt import QtGui, QtWidgets

LINES = 1000


def long_code() -> str:
    """Python with what makes a seam between pieces hard: blank lines, a docstring and a
    comment running over the seams, deep indents, characters HTML must escape."""
    rng = random.Random(20)
    lines = []
    while len(lines) < LINES:
        n = len(lines)
        kind = rng.random()
        if kind < 0.12:
            lines.append("")
        elif kind < 0.2:
            lines += ['    text = """a docstring', f"    over lines <{n}> & more", '    """']
        else:
            lines.append(f"    total_{n} = compute(items[{n}], factor={n % 7}) + 'x<&>'  # {n}")
    return "\n".join(lines[:LINES])


def answer_with(code: str, language: str = "python") -> str:
    return f"Here is the script:\n\n```{language}\n{code}\n```\n\nThat is all."


def stream(qtbot, answer: str) -> AssistantMessage:
    widget = AssistantMessage()
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    widget.show()
    rng = random.Random(7)
    end = 0
    while end < len(answer):  # token-sized and drain-sized pieces, as a real stream comes
        step = rng.choice([1, 3, 5, 40, 130])
        widget.append_answer(answer[end:end + step])
        end += step
    widget.finish("complete")
    return widget


def shown(label: QtWidgets.QLabel) -> str:
    """The text a piece shows: a table, which plain text sets between two newlines."""
    document = QtGui.QTextDocument()
    document.setHtml(label.text())
    text = document.toPlainText()
    assert text.startswith("\n") and text.endswith("\n")
    return text[1:-1]


def formats(label: QtWidgets.QLabel) -> list[tuple[str, str, bool, bool]]:
    """What each run of code looks like: (text, colour, bold, italic), run by run."""
    document = QtGui.QTextDocument()
    document.setHtml(label.text())
    runs = []
    block = document.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            runs.append((fragment.text(), fmt.foreground().color().name(),
                         fmt.fontWeight() > 500, fmt.fontItalic()))
            it += 1
        runs.append(("\n", "", False, False))
        block = block.next()
    return runs


def code_labels(widget: AssistantMessage) -> list[QtWidgets.QLabel]:
    return [label for label in widget.answer.labels() if "<pre" in label.text()]


@pytest.mark.parametrize("language", ["python", "text"])  # coloured, and plain text
def test_a_streamed_long_code_block_shows_every_line_once_in_order(qtbot, language):
    code = long_code()
    widget = stream(qtbot, answer_with(code, language))
    pieces = code_labels(widget)
    assert len(pieces) == -(-LINES // CHUNK_LINES)  # in pieces, a label each
    shown_lines = [line for label in pieces for line in shown(label).split("\n")]
    assert shown_lines[:2] == [language, "Copy"]  # the header, in the first piece only
    del shown_lines[:2]
    assert shown_lines == code.split("\n")
    assert sum(label.text().count('href="copy:0"') for label in widget.answer.labels()) == 1


def test_while_a_code_block_grows_an_update_changes_only_its_last_piece(qtbot):
    code = long_code()
    answer = answer_with(code)
    widget = AssistantMessage()
    qtbot.addWidget(widget)
    cut = answer.index("\n", len(answer) // 2)
    widget.append_answer(answer[:cut])
    before = [label.text() for label in widget.answer.labels()]
    widget.append_answer(answer[cut:cut + 30])
    after = [label.text() for label in widget.answer.labels()]
    assert len(before) > 10 and len(after) == len(before)
    assert after[:-1] == before[:-1] and after[-1] != before[-1]


def test_copy_on_a_streamed_long_block_copies_all_of_it(qtbot):
    code = long_code()
    widget = stream(qtbot, answer_with(code))
    QtGui.QGuiApplication.clipboard().setText("before")
    first = code_labels(widget)[0]
    first.linkActivated.emit("copy:0")  # the header's Copy link, in the first piece
    assert QtGui.QGuiApplication.clipboard().text() == code


def test_a_streamed_answer_ends_as_the_same_answer_opened_from_storage(qtbot):
    code = long_code()
    answer = ("Intro *text*.\n\n```js\nlet a = 1;\n```\n\n" + answer_with(code)
              + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    widget = stream(qtbot, answer)
    markdown._streams.clear()  # the stored answer, rendered at once
    saved = AssistantMessage.from_saved(answer, "", "complete", None, None, None)
    qtbot.addWidget(saved)
    assert [label.text() for label in widget.answer.labels()] == \
        [label.text() for label in saved.answer.labels()]
    assert widget.answer.text() == saved.answer.text()


def test_pieces_look_like_the_block_in_one_label(qtbot):
    """Colours (a docstring over a seam stays a string), lines and height: the pieces of a
    block, stacked, are the block rendered whole."""
    code = long_code()[:12000]
    widget = stream(qtbot, answer_with(code))
    whole = _label(rich=True, object_name="answerText")  # as the pieces are made
    whole.setParent(widget)
    markdown._streams.clear()
    whole.setText(markdown.to_html_blocks(answer_with(code))[1])  # not split: one table
    pieces = code_labels(widget)
    assert len(pieces) > 5
    runs = [run for label in pieces for run in formats(label)]
    whole_runs = formats(whole)
    merged, whole_merged = _merge(runs), _merge(whole_runs)
    assert merged == whole_merged
    width = 760
    assert sum(label.heightForWidth(width) for label in pieces) == whole.heightForWidth(width)


def _merge(runs: list[tuple[str, str, bool, bool]]) -> list[tuple]:
    """Each character with its look (a space has none: it shows no colour), newlines
    dropped: two pieces may cut a run in two."""
    return [(char, *(look if not char.isspace() else ())) for text, *look in runs
            if text != "\n" for char in text]


def test_after_start_the_collector_skips_start_up_objects_and_lexers_are_built():
    import gc

    from app.core import markdown_code
    from app.gui import warm_up

    try:
        thread = warm_up.after_start()
        assert gc.get_freeze_count() > 0  # a full collection no longer walks them
        thread.join(timeout=60)
        assert not thread.is_alive()
        built = markdown_code.lexer_for.cache_info().currsize
        assert built >= len(markdown_code.COMMON_LANGUAGES)
    finally:
        gc.unfreeze()
