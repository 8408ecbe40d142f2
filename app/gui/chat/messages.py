"""One widget per message: the user's text, and the assistant's reasoning block + answer."""

from __future__ import annotations

import re
import time

from app.core.markdown import code_blocks, to_html_blocks
from app.core.provenance import Provenance
from app.gui.chat.tool_block import ToolBlocks
from app.gui import theme
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets, Signal

# A citation as the model writes it: "[3]", linked only in running text: tags, links, code
# spans and code blocks are kept as they are ("arr[1]" in code is not a citation).
_CITATION = re.compile(r"\[(\d{1,3})\]")
_PROTECTED = re.compile(r"(<pre[\s\S]*?</pre>|<code[\s\S]*?</code>|<a\b[\s\S]*?</a>|<[^>]+>)")

STATUS_NOTES = {
    "cancelled": "Stopped",
    "failed": "Failed",
}
RERUN_NOTES = {
    "identical": "re-run: identical to the original",
    "differs": "re-run: differs from the original",
    "stopped": "re-run: stopped before the end",
}


class TextLabel(QtWidgets.QLabel):
    """A word-wrapped label that remembers its height for a width.

    Qt asks every label in the chat column for heightForWidth on each layout pass, and QLabel
    answers by laying its whole document out again: with a few hundred labels that cost 50-75
    ms per streamed update (the GUI stall benchmark), although only one label had changed.
    """

    def __init__(self) -> None:
        super().__init__()
        self._heights: dict[int, int] = {}

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._heights.clear()
        super().setText(text)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = super().heightForWidth(width)
        return height

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.type() in (QtCore.QEvent.Type.FontChange, QtCore.QEvent.Type.StyleChange):
            self._heights.clear()  # a theme or font change lays the text out anew
        super().changeEvent(event)


def _label(rich: bool, object_name: str) -> QtWidgets.QLabel:
    label = TextLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(False)  # links are handled: copy:N copies code, others open on click
    label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum)
    return label


class BlockView(QtWidgets.QWidget):
    """Text shown as a column of labels, one per block (a Markdown block, or a paragraph of
    plain text). A streamed update changes only the last label or adds one, so Qt lays out the
    growing block alone instead of the whole answer on every repaint: one big word-wrapped
    label took 200 ms a relayout at 15,000 characters, longer than a frame by far."""

    linkActivated = Signal(str)

    def __init__(self, rich: bool, object_name: str, parent=None) -> None:
        super().__init__(parent)
        self._rich, self._name = rich, object_name
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4 if rich else 6)
        self._blocks: list[str] = []
        self._labels: list[QtWidgets.QLabel] = []
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum)

    def set_blocks(self, blocks: list[str]) -> None:
        for i, block in enumerate(blocks):
            if i < len(self._labels):
                if self._blocks[i] != block:
                    self._labels[i].setText(block)
            else:
                label = _label(self._rich, self._name)
                label.setOpenExternalLinks(False)
                label.linkActivated.connect(self.linkActivated)
                label.setText(block)
                self._layout.addWidget(label)
                self._labels.append(label)
        for label in self._labels[len(blocks):]:
            self._layout.removeWidget(label)
            label.deleteLater()
        del self._labels[len(blocks):]
        self._blocks = list(blocks)

    def text(self) -> str:
        return "".join(self._blocks)

    def openExternalLinks(self) -> bool:  # noqa: N802 (QLabel's name, for callers and tests)
        return False


def _paragraphs(text: str) -> list[str]:
    """Plain text in blocks at blank lines (the reasoning stream)."""
    return [p for p in text.split("\n\n") if p] or [""]


class ActionBar(QtWidgets.QWidget):
    """Small text buttons under a message, and the "‹ 2/3 ›" branch switcher."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("messageActions")
        self._layout = QtWidgets.QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        # Arrows big enough to hit: the 11 px text buttons were a few pixels wide.
        self.prev_button = self._button("‹", "Previous version", "branchArrow")
        self.branch_label = QtWidgets.QLabel()
        self.branch_label.setObjectName("branchLabel")
        self._layout.addWidget(self.branch_label)
        self.next_button = self._button("›", "Next version", "branchArrow")
        for arrow in (self.prev_button, self.next_button):
            arrow.setMinimumSize(28, 24)
        for widget in (self.prev_button, self.branch_label, self.next_button):
            widget.hide()
        self.buttons: dict[str, QtWidgets.QToolButton] = {}

    def _button(self, text: str, tip: str, name: str = "messageAction") -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setObjectName(name)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        self._layout.addWidget(button)
        return button

    def add(self, key: str, text: str, tip: str) -> QtWidgets.QToolButton:
        button = self._button(text, tip)
        self.buttons[key] = button
        return button

    def finish(self) -> None:
        self._layout.addStretch(1)

    def set_branch(self, index: int, count: int) -> None:
        """This message is version `index` (1-based) of `count`."""
        several = count > 1
        for widget in (self.prev_button, self.branch_label, self.next_button):
            widget.setVisible(several)
        self.branch_label.setText(f"{index}/{count}")
        self.prev_button.setEnabled(index > 1)
        self.next_button.setEnabled(index < count)


class UserMessage(QtWidgets.QFrame):
    action_requested = Signal(str, int)  # "edit" | "delete" | "branch-1" | "branch+1", message id

    def __init__(self, text: str, parent=None, *, message_id: int | None = None,
                 documents: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userMessage")
        self.message_id = message_id
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        self.attached = QtWidgets.QLabel("Attached: " + " · ".join(documents) if documents else "")
        self.attached.setObjectName("attachedLine")
        self.attached.setVisible(bool(documents))
        layout.addWidget(self.attached)
        self.body = _label(rich=False, object_name="userText")
        self.body.setText(text)
        self.actions = ActionBar()
        self.actions.prev_button.clicked.connect(lambda: self._emit("branch-1"))
        self.actions.next_button.clicked.connect(lambda: self._emit("branch+1"))
        self.actions.add("edit", "Edit", "Edit and resend as a new branch (Up arrow edits the "
                         "last one)").clicked.connect(lambda: self._emit("edit"))
        self.actions.add("delete", "Delete", "Delete this message and what follows it (undo "
                         "is offered)").clicked.connect(lambda: self._emit("delete"))
        self.actions.finish()
        self.actions.setVisible(message_id is not None)
        layout.addWidget(self.body)
        layout.addWidget(self.actions)

    @property
    def text(self) -> str:
        return self.body.text()

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id
        self.actions.show()

    def _emit(self, action: str) -> None:
        if self.message_id is not None:
            self.action_requested.emit(action, self.message_id)


class ReasoningBlock(QtWidgets.QWidget):
    """Collapsible chain of thought: open while it streams ("Thinking… 12 s"), folded once the
    answer starts; stopped while thinking, it stays open and says so."""

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
        self.body = BlockView(rich=False, object_name="reasoningText")
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        self._text = ""
        self._started: float | None = None
        self.seconds: float | None = None
        self._clock = QtCore.QTimer(self)  # the elapsed time while it thinks
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
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
            self._clock.start()
        self._text += text
        self.body.set_blocks(_paragraphs(self._text))

    def _tick(self) -> None:
        if self.seconds is None and self._started is not None:
            elapsed = time.monotonic() - self._started
            whole = float(int(elapsed))  # a clock counts up: 1 s, 2 s, never 2 s then 1 s
            self.set_title(f"Thinking… {_duration(whole)}" if whole >= 1 else "Thinking…")

    def stop(self, seconds: float | None = None) -> None:
        """Stopped before any answer: the reasoning stays open, marked stopped."""
        self._clock.stop()
        if seconds is None and self._started is not None:
            seconds = time.monotonic() - self._started
        self.seconds = seconds
        shown = f" · {_duration(seconds)}" if seconds is not None and seconds >= 1 else ""
        self.set_title("Stopped while thinking" + shown)
        self.toggle.setChecked(True)

    def fold(self, seconds: float | None = None, tokens: int | None = None) -> None:
        """The answer began (or the turn ended): close, and say how long the thinking took."""
        self._clock.stop()
        if seconds is None and self._started is not None:
            seconds = time.monotonic() - self._started
        self.seconds = seconds
        title = f"Thought for {_duration(seconds)}" if seconds is not None else "Reasoning"
        if tokens:
            title += f" · {tokens:,} tokens"
        self.set_title(title)
        self.toggle.setChecked(False)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a moment"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


class AssistantMessage(QtWidgets.QFrame):
    # "copy" | "regenerate" | "continue" | "delete" | "info" | "branch-1" | "branch+1", id
    action_requested = Signal(str, int)

    def __init__(self, parent=None, *, hide_reasoning: bool = False,
                 message_id: int | None = None) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.provenance = Provenance()  # how it was made, once finished
        self._hide_reasoning = hide_reasoning  # the setting: the text is kept, never shown
        self.setObjectName("assistantMessage")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.reasoning = ReasoningBlock()
        self.reasoning.hide()
        self.answer = BlockView(rich=True, object_name="answerText")
        self.answer.linkActivated.connect(self._on_link)
        self.footer = QtWidgets.QLabel()
        self.footer.setObjectName("messageFooter")
        self.footer.setWordWrap(True)
        self.footer.hide()
        self.documents_line = QtWidgets.QLabel()
        self.documents_line.setObjectName("documentsLine")
        self.documents_line.setWordWrap(True)
        self.documents_line.hide()
        self._citations: set[int] = set()
        self.actions = ActionBar()
        self.actions.prev_button.clicked.connect(lambda: self._emit("branch-1"))
        self.actions.next_button.clicked.connect(lambda: self._emit("branch+1"))
        for key, text, tip in (
                ("copy", "Copy", "Copy the answer as Markdown"),
                ("regenerate", "Regenerate", "Answer again; this answer stays as a branch"),
                ("continue", "Continue", "Write more of this cut-off answer"),
                ("info", "Info", "How this answer was made, and Re-run exactly"),
                ("delete", "Delete", "Delete this answer (undo is offered)")):
            self.actions.add(key, text, tip).clicked.connect(lambda _=False, k=key: self._emit(k))
        self.actions.finish()
        self.actions.hide()  # shown once the answer is finished and saved
        layout.addWidget(self.documents_line)
        layout.addWidget(self.reasoning)
        self.tools = ToolBlocks()  # the answer's tool calls, in order (app/gui/chat/tool_block.py)
        layout.addWidget(self.tools)
        layout.addWidget(self.answer)
        layout.addWidget(self.footer)
        layout.addWidget(self.actions)
        self._answer = ""
        self.status = "streaming"

    @property
    def answer_text(self) -> str:
        return self._answer

    def _emit(self, action: str) -> None:
        if self.message_id is not None:
            self.action_requested.emit(action, self.message_id)

    def set_documents(self, plan: dict, tool_citations: tuple = ()) -> None:
        """What of the attached documents the model read: "report.pdf: whole · big.pdf: 12 of
        140 pages". Nothing left out goes unsaid; [n] in the answer becomes a citation link."""
        parts = [f"{d['name']}: {d['shown']}" for d in plan.get("documents", [])]
        partial = any(d["mode"] != "whole" for d in plan.get("documents", []))
        note = " — a larger context (Settings) fits more" if partial else ""
        self.documents_line.setText("Read " + " · ".join(parts) + note if parts else "")
        self.documents_line.setVisible(bool(parts))
        self._citations = {p["key"] for p in plan.get("passages", [])} | {
            c["key"] for c in tool_citations if isinstance(c.get("key"), int)}
        if self._answer:
            self.answer.set_blocks(self._render(self._answer))

    def _render(self, text: str) -> list[str]:
        blocks = to_html_blocks(text, dark=theme.is_dark())
        if not self._citations:
            return blocks
        return [self._link_citations(block) for block in blocks]

    def _link_citations(self, html_text: str) -> str:
        def link(m: re.Match) -> str:
            key = int(m.group(1))
            return f'<a href="cite:{key}">[{key}]</a>' if key in self._citations else m.group(0)

        parts = _PROTECTED.split(html_text)  # odd indices: the protected spans
        return "".join(part if i % 2 else _CITATION.sub(link, part) for i, part in enumerate(parts))

    def _on_link(self, href: str) -> None:
        """A code block's Copy link copies it; a citation shows its passage; a web link opens
        in the browser, only on click."""
        if href.startswith("cite:"):
            self._emit(href)
            return
        if href.startswith("copy:"):
            blocks = code_blocks(self._answer)
            index = int(href[5:]) if href[5:].isdigit() else -1
            if 0 <= index < len(blocks):
                from app.gui import clipboard

                clipboard.copy(blocks[index], self)
        elif href.startswith(("http://", "https://", "mailto:")):
            QtGui.QDesktopServices.openUrl(QtCore.QUrl(href))

    def append_reasoning(self, text: str) -> None:
        self.reasoning.setVisible(not self._hide_reasoning)
        self.reasoning.append(text)

    def append_answer(self, text: str) -> None:
        if not self._answer and self.reasoning.text and self.reasoning.seconds is None:
            self.reasoning.fold()
        self._answer += text
        self.answer.set_blocks(self._render(self._answer))  # only its last block changes

    def finish(self, status: str, made: Provenance | None = None, error: str | None = None,
               effort: str | None = None) -> None:
        self.status = status
        made = self.provenance = made or Provenance()
        if self.reasoning.text and status in ("cancelled", "failed") and not self._answer:
            self.reasoning.stop(made.reasoning_s)  # it stopped mid-thought: keep it in view
        elif self.reasoning.text:
            seconds = self.reasoning.seconds if self.reasoning.seconds is not None else made.reasoning_s
            self.reasoning.fold(made.reasoning_s or seconds, made.reasoning_tokens)
        parts = []
        if status in STATUS_NOTES:
            parts.append(STATUS_NOTES[status] + (f": {error}" if error else ""))
        if made.finish_reason == "length":
            parts.append("Cut off at the length limit")
        if made.ttft_s:
            parts.append(f"{made.ttft_s:.2f} s to first token")
        if made.decode_tps:
            parts.append(f"{made.decode_tps:.1f} tokens/s")
        if made.generated_tokens:
            parts.append(f"{made.generated_tokens:,} tokens")
        if effort:
            parts.append(f"{effort} effort")
        if made.dropped_messages:
            parts.append(f"the {made.dropped_messages} oldest messages did not fit the context "
                         "and were left out")
        if made.rerun_outcome:
            parts.append(RERUN_NOTES[made.rerun_outcome])
        self.footer.setText(" · ".join(parts))
        self.footer.setVisible(bool(parts))
        self.setProperty("status", status)
        cut_off = status in ("cancelled", "failed") or made.finish_reason == "length"
        self.actions.buttons["continue"].setVisible(cut_off and bool(self._answer or self.reasoning.text))
        self.actions.setVisible(self.message_id is not None)

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id

    @classmethod
    def from_saved(cls, answer: str, reasoning: str, status: str, made: Provenance | None,
                   error: str | None, effort: str | None, *,
                   hide_reasoning: bool = False, message_id: int | None = None) -> "AssistantMessage":
        widget = cls(hide_reasoning=hide_reasoning, message_id=message_id)
        made = made or Provenance()
        if made.documents or made.citations:
            widget.set_documents(made.documents or {}, made.citations)
        if reasoning:
            widget.append_reasoning(reasoning)
            widget.reasoning.fold(made.reasoning_s)
        widget._answer = answer
        widget.answer.set_blocks(widget._render(answer))
        widget.finish(status, made, error, effort)
        return widget
