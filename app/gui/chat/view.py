"""The scrolling column of messages for one conversation."""

from __future__ import annotations

from app.gui.qt import Qt, QtCore, QtWidgets

# The widest the messages get: lines much longer than ~90 characters are hard to read, and a
# full-screen window made them 250 long.
MAX_COLUMN = 820
SIDE_MARGIN = 24


class ChatView(QtWidgets.QScrollArea):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._column = QtWidgets.QWidget()
        self._column.setObjectName("chatColumn")
        self._layout = QtWidgets.QVBoxLayout(self._column)
        self._layout.setContentsMargins(SIDE_MARGIN, 16, SIDE_MARGIN, 16)
        # The column is as tall as its messages at the width they have (heightForWidth), never
        # as tall as their minimum sizes: those are measured at the narrowest a label could
        # be, and made a short chat scroll, with blank space under its last answer.
        self._layout.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetNoConstraint)
        self._column.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred,
                                   QtWidgets.QSizePolicy.Policy.Ignored)
        self._layout.setSpacing(12)
        self._layout.addStretch(1)
        self.earlier_button = QtWidgets.QPushButton()
        self.earlier_button.setObjectName("earlierButton")
        self.earlier_button.hide()
        self._layout.insertWidget(0, self.earlier_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self._on_earlier = None
        self.earlier_button.clicked.connect(lambda: self._on_earlier and self._on_earlier())
        self.setWidget(self._column)
        self._follow = True  # stick to the bottom while the user has not scrolled up
        self._keep_from_bottom: int | None = None
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # Centre the messages in a column of at most MAX_COLUMN on wide windows.
        side = max(SIDE_MARGIN, (self.viewport().width() - MAX_COLUMN) // 2)
        self._layout.setContentsMargins(side, 16, side, 16)
        super().resizeEvent(event)

    def messages(self) -> list[QtWidgets.QWidget]:
        # Layout: [earlier button, messages…, stretch]
        return [self._layout.itemAt(i).widget() for i in range(1, self._layout.count() - 1)]

    def add(self, widget: QtWidgets.QWidget) -> None:
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._follow = True

    def prepend(self, widgets: list[QtWidgets.QWidget]) -> None:
        """Earlier messages above the shown ones, keeping what the user looks at in place."""
        bar = self.verticalScrollBar()
        before = bar.maximum() - bar.value()
        for i, widget in enumerate(widgets):
            self._layout.insertWidget(1 + i, widget)
        self._follow = False
        self._keep_from_bottom = before  # applied when the new range arrives (_on_range)

    def set_earlier(self, count: int, callback) -> None:
        """Offer the `count` messages not shown yet (0: none left)."""
        self._on_earlier = callback
        self.earlier_button.setText(f"Show earlier messages ({count})")
        self.earlier_button.setVisible(count > 0)

    def remove_from(self, index: int) -> None:
        """Remove the message widgets from `index` on (a new branch replaces them)."""
        for widget in self.messages()[index:]:
            self._layout.removeWidget(widget)
            widget.hide()  # at once: deletion waits for the event loop, painting does not
            widget.deleteLater()

    def reveal(self, widget: QtWidgets.QWidget) -> None:
        self._follow = False
        self._column.adjustSize()
        self.ensureWidgetVisible(widget, 0, 40)
        widget.setProperty("highlight", True)
        widget.style().polish(widget)
        # The widget as context: the timer dies with it if the view is cleared first.
        QtCore.QTimer.singleShot(2500, widget, lambda: (widget.setProperty("highlight", False),
                                                        widget.style().polish(widget)))

    def clear(self) -> None:
        self.remove_from(0)
        self.earlier_button.hide()

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4

    def _on_range(self, _lo: int, hi: int) -> None:
        if self._keep_from_bottom is not None:  # earlier messages went in above: stay put
            self.verticalScrollBar().setValue(hi - self._keep_from_bottom)
            self._keep_from_bottom = None
        elif self._follow:
            self.verticalScrollBar().setValue(hi)
