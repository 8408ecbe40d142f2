"""A passage opened from a citation [n] or a search hit: where it is (file, page), its text,
and a button to open the file in the app the system uses for it."""

from __future__ import annotations

import os

from app.core.library.sources import Source
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets
from common.text import display_path


def open_file(path: str) -> bool:
    """Open `path` in the system's app for it (a PDF viewer, an editor); False if it failed."""
    return QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(path))


class PassageDialog(QtWidgets.QDialog):
    def __init__(self, source: Source, title: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.source = source
        self.setWindowTitle(title or source.label)
        self.setObjectName("passageDialog")
        heading = QtWidgets.QLabel(source.label)
        heading.setObjectName("passageSource")
        heading.setWordWrap(True)
        heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        self.where = QtWidgets.QLabel(self._where())
        self.where.setObjectName("facts")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body = QtWidgets.QPlainTextEdit(source.text or
                                             "This passage is no longer in the index: its file "
                                             "changed or was removed since.")
        self.body.setReadOnly(True)
        self.body.setObjectName("passageText")
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.open_button = buttons.addButton("Open file",
                                             QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_in_app)
        self.folder_button = buttons.addButton("Show in folder",
                                               QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.folder_button.clicked.connect(self.show_folder)
        exists = source.exists
        for button in (self.open_button, self.folder_button):
            button.setEnabled(exists)
            if not exists:
                button.setToolTip("The file is no longer there." if source.path else
                                  "This passage is from a file attached to a chat; Hearth "
                                  "keeps its text, not the file.")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.where)
        layout.addWidget(self.body, 1)
        layout.addWidget(buttons)
        self.resize(620, 460)

    def _where(self) -> str:
        parts = []
        if self.source.path:
            parts.append(display_path(self.source.path))
        if self.source.page:
            parts.append(f"page {self.source.page}")
        return " · ".join(parts) or "Attached to a chat"

    def text(self) -> str:
        return self.body.toPlainText()

    def open_in_app(self) -> None:
        if self.source.path and not open_file(self.source.path):
            self.where.setText(f"No app could open {display_path(self.source.path)}.")

    def show_folder(self) -> None:
        if self.source.path:
            open_file(os.path.dirname(self.source.path))
