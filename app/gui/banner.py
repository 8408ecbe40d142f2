"""A strip above the chat that tells the user what to do next, or what went wrong."""

from __future__ import annotations

from app.gui.qt import QtWidgets, Signal


class Banner(QtWidgets.QFrame):
    action_clicked = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("bannerText")
        self.label.setWordWrap(True)
        self.button = QtWidgets.QPushButton()
        self.button.setObjectName("bannerButton")
        self.button.clicked.connect(self.action_clicked)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 10)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.hide()

    def show_message(self, text: str, kind: str = "info", action: str | None = None) -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.button.setVisible(bool(action))
        self.button.setText(action or "")
        self.show()

    @property
    def kind(self) -> str:
        return self.property("kind") or ""
