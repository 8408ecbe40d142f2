"""The pieces messages are built from: word-wrapped labels that remember their height, a view
that streams an answer one Markdown block per label, the action bar under a message with its
branch switcher, and the collapsible reasoning block with its clock."""

from __future__ import annotations

import time

from app.core.markdown_code import PIECE
from app.gui.qt import Qt, QtCore, QtWidgets, Signal


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

    # QLabel's own size hints lay a word-wrapped text out about seven times (at a "golden
    # ratio" width found by trial, at an unbounded width, at width 0), all for answers to a
    # question the chat column never asks: it sizes labels by heightForWidth. For a long code
    # block that was 8 times the cost of the layout the label needs, on every update.
    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt's name)
        width = self.width() if self.testAttribute(Qt.WidgetAttribute.WA_Resized) else 0
        if width <= 0:  # not placed yet: the width QTextDocument.adjustSize stops at
            width = self.fontMetrics().horizontalAdvance("x") * 80
        return QtCore.QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt's name)
        metrics = self.fontMetrics()
        return QtCore.QSize(metrics.horizontalAdvance("x") * 8, metrics.height())

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
    label took 200 ms a relayout at 15,000 characters, longer than a frame by far. A block in
    pieces (a long code block, split by `PIECE`) gets a label per piece, stacked without gaps."""

    linkActivated = Signal(str)

    def __init__(self, rich: bool, object_name: str, parent=None) -> None:
        super().__init__(parent)
        self._rich, self._name = rich, object_name
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4 if rich else 6)
        self._blocks: list[str] = []
        self._widgets: list[QtWidgets.QWidget] = []  # a label, or a _Pieces for a split block
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum)

    def set_blocks(self, blocks: list[str]) -> None:
        for i, block in enumerate(blocks):
            if i < len(self._widgets) and self._blocks[i] == block:
                continue
            pieces = block.split(PIECE)
            widget = self._widgets[i] if i < len(self._widgets) else None
            if len(pieces) > 1 and isinstance(widget, _Pieces):
                widget.set_pieces(pieces)
            elif len(pieces) == 1 and isinstance(widget, QtWidgets.QLabel):
                widget.setText(block)
            else:  # new, or a block that became split (or stopped being)
                if len(pieces) > 1:
                    fresh = _Pieces(self._make_label)
                    fresh.set_pieces(pieces)
                else:
                    fresh = self._make_label()
                    fresh.setText(block)
                if widget is None:
                    self._layout.addWidget(fresh)
                    self._widgets.append(fresh)
                else:
                    self._layout.replaceWidget(widget, fresh)
                    widget.hide()  # at once: deletion waits for the event loop, painting not
                    widget.deleteLater()
                    self._widgets[i] = fresh
        for widget in self._widgets[len(blocks):]:
            self._layout.removeWidget(widget)
            widget.hide()
            widget.deleteLater()
        del self._widgets[len(blocks):]
        self._blocks = list(blocks)

    def _make_label(self) -> QtWidgets.QLabel:
        label = _label(self._rich, self._name)
        label.linkActivated.connect(self.linkActivated)
        return label

    def labels(self) -> list[QtWidgets.QLabel]:
        """Every label, in reading order (a split block's pieces one by one)."""
        return [label for widget in self._widgets
                for label in (widget.labels if isinstance(widget, _Pieces) else [widget])]

    def text(self) -> str:
        return "".join(self._blocks).replace(PIECE, "")

    def openExternalLinks(self) -> bool:  # noqa: N802 (QLabel's name, for callers and tests)
        return False


class _Pieces(QtWidgets.QWidget):
    """The pieces of one block, a label each, with no space between them: while the block
    grows only its last label changes."""

    def __init__(self, make_label) -> None:
        super().__init__()
        self._make_label = make_label
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self.labels: list[QtWidgets.QLabel] = []
        self._pieces: list[str] = []
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Minimum)

    def set_pieces(self, pieces: list[str]) -> None:
        for i, piece in enumerate(pieces):
            if i == len(self.labels):
                self.labels.append(self._make_label())
                self._layout.addWidget(self.labels[i])
                self._pieces.append("")
            if self._pieces[i] != piece:
                self.labels[i].setText(piece)
        for label in self.labels[len(pieces):]:
            self._layout.removeWidget(label)
            label.hide()
            label.deleteLater()
        del self.labels[len(pieces):]
        self._pieces = list(pieces)


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
