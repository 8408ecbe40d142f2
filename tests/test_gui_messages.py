"""What a person does with one message: copy a code block, open a link only on click."""

from __future__ import annotations

from app.chat.messages import AssistantMessage
from app.qt import QtGui

ANSWER = "Here:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nand [docs](https://example.org)."


def test_a_code_blocks_copy_link_puts_exactly_that_code_on_the_clipboard(qtbot):
    widget = AssistantMessage.from_saved(ANSWER, "", "complete", {}, None, "medium")
    qtbot.addWidget(widget)
    assert 'href="copy:0"' in widget.answer.text() and "python" in widget.answer.text()
    QtGui.QGuiApplication.clipboard().setText("before")
    widget.answer.linkActivated.emit("copy:0")
    assert QtGui.QGuiApplication.clipboard().text() == "def f(x):\n    return x * 2"
    widget.answer.linkActivated.emit("copy:7")  # no such block: nothing happens
    assert QtGui.QGuiApplication.clipboard().text() == "def f(x):\n    return x * 2"
    assert not widget.answer.openExternalLinks()  # links open only through our handler
