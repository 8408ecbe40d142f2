"""A passage opened from a citation [n] or a search hit: where it is (file, page), its text
with the words searched for marked (scrolled to the first), and a button to open the file in
the app the system uses for it."""

from __future__ import annotations

import os
import re

from app.core.library.sources import Source
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets
from common.text import display_path
from storage.documents.cjk import has_cjk


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
        self.marked = self._mark(source.terms)
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
        self.resize(700, 460)  # a PDF's lines (~80 characters) fit unwrapped

    def _where(self) -> str:
        parts = []
        if self.source.path:
            parts.append(display_path(self.source.path))
        if self.source.page:
            parts.append(f"page {self.source.page}")
        return " · ".join(parts) or "Attached to a chat"

    def text(self) -> str:
        return self.body.toPlainText()

    def _mark(self, terms: tuple[str, ...]) -> list[str]:
        """Mark each word that starts with a searched-for term (search matches prefixes) and
        scroll to the first; returns the marked words, in order."""
        words = [t for t in terms if t.strip()]
        if not words:
            return []
        # Chinese and Japanese words sit inside runs with no spaces: matched exactly.
        pattern = re.compile("|".join(
            re.escape(w) if has_cjk(w) else r"\b" + re.escape(w) + r"\w*"
            for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
        text = self.body.toPlainText()
        look = QtGui.QTextCharFormat()
        look.setFontWeight(QtGui.QFont.Weight.Bold)
        look.setBackground(self.palette().color(QtGui.QPalette.ColorRole.Highlight).lighter(170))
        selections, found = [], []
        for match in pattern.finditer(text):
            cursor = self.body.textCursor()
            cursor.setPosition(match.start())
            cursor.setPosition(match.end(), QtGui.QTextCursor.MoveMode.KeepAnchor)
            selection = QtWidgets.QTextEdit.ExtraSelection()
            selection.cursor, selection.format = cursor, look
            selections.append(selection)
            found.append(match.group())
        self.body.setExtraSelections(selections)
        if selections:
            first = self.body.textCursor()
            first.setPosition(selections[0].cursor.selectionStart())
            self.body.setTextCursor(first)
        return found

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.marked:  # once laid out: the first marked word in the middle of the view
            QtCore.QTimer.singleShot(0, self.body.centerCursor)

    def open_in_app(self) -> None:
        if self.source.path and not open_file(self.source.path):
            self.where.setText(f"No app could open {display_path(self.source.path)}.")

    def show_folder(self) -> None:
        if self.source.path:
            open_file(os.path.dirname(self.source.path))
