"""One widget per message: the user's text, and the assistant's reasoning block + answer."""

from __future__ import annotations

import time

from .. import theme
from ..markdown import code_blocks, to_html
from ..qt import QtCore, QtGui, Qt, QtWidgets

STATUS_NOTES = {
    "cancelled": "Stopped",
    "failed": "Failed",
}


def _label(rich: bool, object_name: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(False)  # links are handled: copy:N copies code, others open on click
    label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum)
    return label


class UserMessage(QtWidgets.QFrame):
    def __init__(self, text: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("userMessage")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.body = _label(rich=False, object_name="userText")
        self.body.setText(text)
        layout.addWidget(self.body)


class ReasoningBlock(QtWidgets.QWidget):
    """Collapsible chain of thought: open while it streams, folded once the answer starts."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.toggle = QtWidgets.QToolButton()
        self.toggle.setObjectName("reasoningToggle")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._set_open)
        self.body = _label(rich=False, object_name="reasoningText")
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self._text = ""
        self._started: float | None = None
        self.seconds: float | None = None
        self.set_title("Thinking…")
        self.toggle.setChecked(True)

    def set_title(self, title: str) -> None:
        self.toggle.setText(title)

    def _set_open(self, is_open: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if is_open else Qt.ArrowType.RightArrow)
        self.body.setVisible(is_open)

    @property
    def is_open(self) -> bool:
        return self.toggle.isChecked()

    @property
    def text(self) -> str:
        return self._text

    def append(self, text: str) -> None:
        if self._started is None:
            self._started = time.monotonic()
        self._text += text
        self.body.setText(self._text)

    def fold(self, seconds: float | None = None) -> None:
        """The answer began (or the turn ended): close, and say how long the thinking took."""
        if seconds is None and self._started is not None:
            seconds = time.monotonic() - self._started
        self.seconds = seconds
        self.set_title(f"Thought for {_duration(seconds)}" if seconds is not None else "Reasoning")
        self.toggle.setChecked(False)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a moment"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


class AssistantMessage(QtWidgets.QFrame):
    def __init__(self, parent=None, *, hide_reasoning: bool = False) -> None:
        super().__init__(parent)
        self._hide_reasoning = hide_reasoning  # the setting: the text is kept, never shown
        self.setObjectName("assistantMessage")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.reasoning = ReasoningBlock()
        self.reasoning.hide()
        self.answer = _label(rich=True, object_name="answerText")
        self.answer.linkActivated.connect(self._on_link)
        self.footer = QtWidgets.QLabel()
        self.footer.setObjectName("messageFooter")
        self.footer.hide()
        layout.addWidget(self.reasoning)
        layout.addWidget(self.answer)
        layout.addWidget(self.footer)
        self._answer = ""
        self.status = "streaming"

    @property
    def answer_text(self) -> str:
        return self._answer

    def _on_link(self, href: str) -> None:
        """A code block's Copy link copies it; a web link opens in the browser, only on click."""
        if href.startswith("copy:"):
            blocks = code_blocks(self._answer)
            index = int(href[5:]) if href[5:].isdigit() else -1
            if 0 <= index < len(blocks):
                QtGui.QGuiApplication.clipboard().setText(blocks[index])
        elif href.startswith(("http://", "https://", "mailto:")):
            QtGui.QDesktopServices.openUrl(QtCore.QUrl(href))

    def append_reasoning(self, text: str) -> None:
        self.reasoning.setVisible(not self._hide_reasoning)
        self.reasoning.append(text)

    def append_answer(self, text: str) -> None:
        if not self._answer and self.reasoning.text and self.reasoning.seconds is None:
            self.reasoning.fold()
        self._answer += text
        self.answer.setText(to_html(self._answer, dark=theme.is_dark()))  # only this message

    def finish(self, status: str, stats: dict | None = None, error: str | None = None,
               effort: str | None = None) -> None:
        self.status = status
        stats = stats or {}
        if self.reasoning.text and self.reasoning.seconds is None:
            self.reasoning.fold(stats.get("reasoning_s"))
        parts = []
        if status in STATUS_NOTES:
            parts.append(STATUS_NOTES[status] + (f": {error}" if error else ""))
        if stats.get("finish_reason") == "length":
            parts.append("Cut off: the context window is full")
        if stats.get("decode_tps"):
            parts.append(f"{stats['decode_tps']:.1f} tokens/s")
        if effort:
            parts.append(f"{effort} effort")
        self.footer.setText(" · ".join(parts))
        self.footer.setVisible(bool(parts))
        self.setProperty("status", status)

    @classmethod
    def from_saved(cls, answer: str, reasoning: str, status: str, stats: dict | None,
                   error: str | None, effort: str | None, *,
                   hide_reasoning: bool = False) -> "AssistantMessage":
        widget = cls(hide_reasoning=hide_reasoning)
        if reasoning:
            widget.append_reasoning(reasoning)
            widget.reasoning.fold((stats or {}).get("reasoning_s"))
        widget._answer = answer
        widget.answer.setText(to_html(answer, dark=theme.is_dark()))
        widget.finish(status, stats, error, effort)
        return widget
