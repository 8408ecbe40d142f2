"""Copying, with feedback: every copy says "Copied" where the person looks (the button they
pressed, and the status bar), since the clipboard itself shows nothing."""

from __future__ import annotations

from app.gui.qt import QtCore, QtGui, QtWidgets, isValid

FEEDBACK_MS = 1500
COPIED = "Copied"


def copy(text: str, near: QtWidgets.QWidget | None = None,
         button: QtWidgets.QAbstractButton | None = None) -> None:
    """Put `text` on the clipboard; say so on `button` (briefly) and in the status bar of the
    window `near` (or `button`) belongs to."""
    QtGui.QGuiApplication.clipboard().setText(text)
    widget = near or button
    window = widget.window() if widget is not None else None
    if isinstance(window, QtWidgets.QMainWindow):
        window.statusBar().showMessage(COPIED, FEEDBACK_MS * 2)
    elif window is not None and isinstance(window.parentWidget(), QtWidgets.QWidget):
        top = window.parentWidget().window()  # a dialog or popover: its main window's bar
        if isinstance(top, QtWidgets.QMainWindow):
            top.statusBar().showMessage(COPIED, FEEDBACK_MS * 2)
    if button is not None and button.text() != COPIED:
        label = button.text()
        button.setText(COPIED)
        QtCore.QTimer.singleShot(FEEDBACK_MS, button,
                                 lambda: isValid(button) and button.setText(label))
