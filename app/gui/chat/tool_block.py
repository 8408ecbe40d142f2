"""One tool call inside an answer: a compact line — tool, status, time — folded by default;
open, the arguments, the result and the pages it opened, each copyable. While a call waits for
the person, the block asks: Allow once · Allow for this chat · Deny."""

from __future__ import annotations

import html
from typing import Callable

from app.gui.qt import Qt, QtGui, QtWidgets, Signal

STATUS_TEXT = {"pending": "waiting", "running": "running…", "done": "done", "error": "failed",
               "denied": "not allowed", "cancelled": "stopped", "replayed": "replayed",
               "approval": "waiting for your approval"}
MAX_SHOWN_CHARS = 20_000  # of arguments or a result, in the block (the copy takes all of it)


def _mono(object_name: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    font = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
    label.setFont(font)
    return label


class ToolBlock(QtWidgets.QFrame):
    decided = Signal(str)  # "once" | "chat" | "deny": the person's answer to the approval

    def __init__(self, seq: int, title: str, recipient: str, arguments: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("toolBlock")
        self.seq, self.title, self.recipient = seq, title, recipient
        self.arguments, self.result, self.status = arguments, "", "running"
        self.duration_s: float | None = None
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(4)
        self.toggle = QtWidgets.QToolButton()
        self.toggle.setObjectName("toolToggle")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.toggled.connect(self._set_open)
        self.preamble = QtWidgets.QLabel()
        self.preamble.setObjectName("toolPreamble")
        self.preamble.setWordWrap(True)
        self.preamble.hide()
        self.details = QtWidgets.QWidget()
        inner = QtWidgets.QVBoxLayout(self.details)
        inner.setContentsMargins(14, 0, 0, 0)
        self.arguments_label = _mono("toolArguments")
        self.result_label = _mono("toolResult")
        self.pages_label = QtWidgets.QLabel()
        self.pages_label.setObjectName("toolPages")
        self.pages_label.setWordWrap(True)
        self.pages_label.setTextFormat(Qt.TextFormat.RichText)
        self.pages_label.setOpenExternalLinks(False)
        self.pages_label.linkActivated.connect(
            lambda url: QtGui.QDesktopServices.openUrl(url))  # only on a click
        self.pages_label.hide()
        copy = QtWidgets.QToolButton()
        copy.setObjectName("messageAction")
        copy.setText("Copy")
        copy.setAutoRaise(True)
        copy.setToolTip("Copy the call and its result")
        copy.clicked.connect(self.copy)
        self.copy_button = copy
        for widget in (self.arguments_label, self.result_label, self.pages_label, copy):
            inner.addWidget(widget, 0, Qt.AlignmentFlag.AlignLeft if widget is copy else Qt.AlignmentFlag(0))
        self.approval = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(self.approval)
        row.setContentsMargins(14, 0, 0, 0)
        self.approval_text = QtWidgets.QLabel()
        self.approval_text.setObjectName("toolApprovalText")
        self.approval_text.setWordWrap(True)
        row.addWidget(self.approval_text, 1)
        self.allow_once = QtWidgets.QPushButton("Allow once")
        self.allow_chat = QtWidgets.QPushButton("Allow for this chat")
        self.deny = QtWidgets.QPushButton("Deny")
        self.allow_once.setObjectName("primaryButton")
        for button, decision in ((self.allow_once, "once"), (self.allow_chat, "chat"),
                                 (self.deny, "deny")):
            button.clicked.connect(lambda _=False, d=decision: self._decide(d))
            row.addWidget(button)
        self.approval.hide()
        layout.addWidget(self.preamble)
        layout.addWidget(self.toggle)
        layout.addWidget(self.approval)
        layout.addWidget(self.details)
        self._set_open(False)
        self._refresh()

    # -- state ------------------------------------------------------------------------------------

    def set_preamble(self, text: str) -> None:
        self.preamble.setText(text.strip())
        self.preamble.setVisible(bool(text.strip()))

    def ask(self, detail: str = "") -> None:
        """Waiting for the person: open, with the three buttons."""
        self.status = "approval"
        self.approval_text.setText(detail or f"{self.title} wants to run this.")
        self.approval.show()
        self.toggle.setChecked(True)
        self._refresh()

    def _decide(self, decision: str) -> None:
        self.approval.hide()
        self.status = "running" if decision != "deny" else "denied"
        self._refresh()
        self.decided.emit(decision)

    def running(self) -> None:
        self.approval.hide()
        self.status = "running"
        self._refresh()

    def finish(self, status: str, result: str, duration_s: float | None = None,
               pages: tuple[str, ...] = ()) -> None:
        self.approval.hide()
        self.status, self.result, self.duration_s = status, result, duration_s
        if pages:
            self.pages_label.setText("Opened: " + " · ".join(
                f'<a href="{html.escape(p, quote=True)}">{html.escape(p)}</a>' for p in pages))
            self.pages_label.show()
        self._refresh()

    @property
    def is_open(self) -> bool:
        return self.toggle.isChecked()

    def _set_open(self, is_open: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if is_open else Qt.ArrowType.RightArrow)
        self.details.setVisible(is_open)

    def _refresh(self) -> None:
        when = ""
        if self.duration_s is not None and self.status not in ("running", "approval"):
            when = " · under 0.01 s" if self.duration_s < 0.01 else f" · {self.duration_s:.2f} s"
        self.toggle.setText(f"{self.title} · {STATUS_TEXT.get(self.status, self.status)}{when}")
        self.setProperty("status", self.status)
        self.style().unpolish(self)
        self.style().polish(self)
        self.arguments_label.setText(_shown(self.arguments) or "(no arguments)")
        self.result_label.setText(_shown(self.result))
        self.result_label.setVisible(bool(self.result))

    def copy(self) -> None:
        QtGui.QGuiApplication.clipboard().setText(
            f"{self.recipient}\n{self.arguments}\n\n{self.result}".rstrip() + "\n")


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else (
        text[:MAX_SHOWN_CHARS] + f"\n… ({len(text) - MAX_SHOWN_CHARS:,} more characters; Copy takes all)")


def approval_detail(spec_title: str, isolation: Callable[[], str] | None = None) -> str:
    text = f"{spec_title} wants to run this. Allow it?"
    if isolation is not None:
        try:
            text += f" {isolation()}"
        except Exception:  # a description is a courtesy: never a reason to fail the question
            pass
    return text


class ToolBlocks(QtWidgets.QWidget):
    """The tool calls of one answer, in order; hidden while there are none."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.blocks: dict[int, ToolBlock] = {}
        self._preamble = ""
        self.hide()

    def preamble(self, text: str) -> None:
        """Text the model wrote for the person before its next call."""
        self._preamble += text

    def block(self, seq: int, title: str, recipient: str, arguments: str) -> ToolBlock:
        found = self.blocks.get(seq)
        if found is None:
            found = self.blocks[seq] = ToolBlock(seq, title, recipient, arguments)
            found.set_preamble(self._preamble)
            self._preamble = ""
            self._layout.addWidget(found)
            self.show()
        return found

    def add_saved(self, call) -> ToolBlock:
        """A stored call (storage.tool_calls.StoredCall), as it ended."""
        block = self.block(call.seq, _title(call.recipient), call.recipient, call.arguments)
        block.set_preamble(call.preamble)
        block.finish(call.status, call.text_for_model, call.duration_s, call.pages)
        return block


def _title(recipient: str) -> str:
    """A person's name for a tool from what the model called."""
    known = {"functions.calculator": "Calculator", "functions.current_time": "Date and time",
             "functions.search_documents": "Documents", "python": "Python",
             "browser.search": "Browser: search", "browser.open": "Browser: open",
             "browser.find": "Browser: find"}
    return known.get(recipient, recipient.removeprefix("functions."))


def show_tool_event(blocks: ToolBlocks, event) -> None:
    """A streamed event of the tool loop, on the answer's blocks."""
    from app.core.tool_loop import ToolFinished, ToolStarted
    from inference.events import PreambleDelta

    if isinstance(event, PreambleDelta):
        blocks.preamble(event.text)
    elif isinstance(event, ToolStarted):
        block = blocks.block(event.seq, event.title, event.call.recipient, event.call.arguments)
        if not event.waiting and block.status != "denied":
            block.running()
    elif isinstance(event, ToolFinished):
        block = blocks.blocks.get(event.seq)
        if block is None and event.call is not None:  # refused before it ran (bad arguments…)
            block = blocks.block(event.seq, _title(event.call.recipient), event.call.recipient,
                                 event.call.arguments)
        if block is not None:
            block.finish(event.status, event.result, event.duration_s, event.pages)
