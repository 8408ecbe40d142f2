"""The window's two kinds of trouble: a person's (UserError: its message, in the banner) and
a bug (anything else: logged with its traceback, shown as "Something went wrong" with the
details a click away). Either way the window stays usable.

`install(window)` routes exceptions that escape a Qt slot here too (PySide6 hands them to
`sys.excepthook` and carries on), then asks the window to `recover()`, so a failure halfway
through a slot can never leave Send disabled.
"""

from __future__ import annotations

import logging
import sys

from app.core import logs
from app.gui import clipboard
from app.gui.qt import QObject, QtWidgets
from common.errors import UserError

log = logging.getLogger("hearth")


def _reporter(obj: QObject | None):
    """The nearest object up the parent chain that can show an error (the main window)."""
    while obj is not None:
        if hasattr(obj, "show_error") and hasattr(obj, "show_bug"):
            return obj
        obj = obj.parent()
    return None


def report(near: QObject | None, exc: BaseException) -> None:
    """Show `exc` in the window that `near` belongs to; log it if it is a bug."""
    window = _reporter(near)
    if isinstance(exc, UserError):
        if window is not None:
            window.show_error(str(exc))
        else:
            log.warning("%s", exc)
        return
    log.error("bug: %s: %s", type(exc).__name__, exc)
    logs.record_bug(exc, "in the window")  # the traceback, to the file, however logging is set
    if window is not None:
        window.show_bug(exc)


def install(window):
    """Send exceptions that escape Qt slots to `window` (then `window.recover()`); returns
    the hook it replaced."""
    previous = sys.excepthook

    def hook(kind, exc, tb):
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not ours to keep
            previous(kind, exc, tb)
            return
        try:
            report(window, exc)
            window.recover()
        except Exception:  # the reporter itself failed: the log still gets the original
            log.exception("reporting an error failed")

    sys.excepthook = hook
    return previous


class BugDialog(QtWidgets.QMessageBox):
    """"Something went wrong": what to do next, and the details to copy into a report."""

    def __init__(self, exc: BaseException, parent=None) -> None:
        super().__init__(parent)
        self.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        self.setWindowTitle("Something went wrong")
        self.setText("Something went wrong inside Hearth. Your chats are safe; you can carry on.")
        self.details = logs.describe(exc)
        self.setInformativeText(f"{type(exc).__name__}: {exc}\n\nThe details are also in "
                                f"{logs.log_path()}.")
        self.setDetailedText(self.details)
        copy = self.addButton("Copy details", QtWidgets.QMessageBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: clipboard.copy(self.details, self, copy))
        self.addButton(QtWidgets.QMessageBox.StandardButton.Close)
