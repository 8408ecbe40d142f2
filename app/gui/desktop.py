"""Hearth and the desktop: files opened with Hearth (its command line, "Open with", a drop on
the Dock icon), requests a second launch hands over, the tray, and quick ask.

    hearth-gui [FILE…]              open the files as attachments in a new chat
    hearth-gui --ask TEXT [FILE…]   …and send TEXT there once the model is ready
    hearth-gui --quick-ask          show the quick-ask window (bind it to a key in the
                                    desktop's keyboard settings for a system-wide shortcut)
    hearth-gui --hidden             start in the tray (Open at login uses it)

A second launch hands these to the running Hearth (app/gui/single_instance.py) and quits.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from app.core import preferences
from app.gui import quick_ask
from app.gui.global_shortcut import GlobalShortcut
from app.gui.qt import QObject, QtCore, QtGui, QtWidgets
from app.gui.single_instance import Request
from app.gui.tray import Tray

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

ASK_POLL_MS = 250
log = logging.getLogger("hearth")


def parse_launch(arguments: list[str], cwd: str | None = None) -> Request:
    """What this launch asks for; `arguments` are those Qt left (it takes its own, -platform…).
    Unknown options are ignored rather than refused: a window has no terminal to print to."""
    parser = argparse.ArgumentParser(prog="hearth-gui", add_help=False, allow_abbrev=False)
    parser.add_argument("--ask")
    parser.add_argument("--quick-ask", action="store_true")
    parser.add_argument("--hidden", action="store_true")
    parser.add_argument("files", nargs="*")
    try:
        known, _unknown = parser.parse_known_intermixed_args(arguments)
    except SystemExit:  # a malformed option (--ask without its text): nothing but the window
        return Request()
    cwd = cwd or os.getcwd()
    files = tuple(os.path.abspath(os.path.join(cwd, f)) for f in known.files
                  if f and not f.startswith("-"))
    return Request(files=files, ask=known.ask if known.ask and known.ask.strip() else None,
                   quick_ask=known.quick_ask, hidden=known.hidden)


class Desktop(QObject):
    """Owns the tray and the file-open events for one main window, and carries out requests."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.desktop = self
        self.tray = Tray(window)
        self.tray.quick_ask.triggered.connect(lambda: quick_ask.show_for(window))
        self.shortcut = GlobalShortcut(self)  # Ctrl+Shift+Space from any app, on X11
        self.shortcut.pressed.connect(lambda: quick_ask.show_for(window))
        self._asks: list[tuple[int | None, str]] = []  # (chat, question) waiting for the model
        self._ask_timer = QtCore.QTimer(self)
        self._ask_timer.setInterval(ASK_POLL_MS)
        self._ask_timer.timeout.connect(self._send_waiting)
        app = QtWidgets.QApplication.instance()
        app.installEventFilter(self)  # macOS: files dropped on the Dock icon, "Open with"
        app.aboutToQuit.connect(window.quit)  # logout, Cmd+Q on the Dock: shut down properly
        app.aboutToQuit.connect(self.shortcut.stop)

    def apply_preferences(self, prefs: preferences.Preferences) -> None:
        """Take or give back the system-wide quick-ask key as Settings says; where it cannot be
        had (not X11, another app holds it) the log says why (global_shortcut.py)."""
        if prefs.global_quick_ask and not self.window.quitting:
            if not self.shortcut.start():
                log.info("no system-wide quick-ask key: %s", self.shortcut.why)
        else:
            self.shortcut.stop()

    def install_tray(self) -> bool:
        if self.tray.install():
            # Hidden in the tray, Hearth has no window open: closing a dialog must not quit it.
            QtWidgets.QApplication.instance().setQuitOnLastWindowClosed(False)
            return True
        return False

    def close_to_tray(self, event: QtGui.QCloseEvent) -> bool:
        """MainWindow.closeEvent asks: True if the window only hid (the event is ignored)."""
        if not self.tray.keeps_running():
            return False
        event.ignore()
        self.window.hide()
        panel = getattr(self.window, "quick_ask", None)
        if panel is not None:
            panel.hide()
        self.tray.window_closed()
        return True

    def handle(self, request: Request, *, first: bool = False) -> None:
        """Carry out what a launch asked for (`first`: this process's own launch)."""
        w = self.window
        if request.files or request.ask:
            w.new_chat()
            if request.files:
                w.attacher.attach(list(request.files))
            if request.ask:
                self._asks.append((w.controller.conversation_id, request.ask))
                self._ask_timer.start()
        if request.quick_ask:
            quick_ask.show_for(w)
        elif not (first and request.hidden and self.tray.icon.isVisible()):
            self.tray.show_window()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QtCore.QEvent.Type.FileOpen:
            path = event.file()
            if path:
                self.handle(Request(files=(path,)))
                return True
        return super().eventFilter(watched, event)

    def _send_waiting(self) -> None:
        """Send a handed-over question once the model is loaded and the files are read; a
        model that failed to load leaves it in the composer, as a person would find it."""
        w = self.window
        if not self._asks:
            self._ask_timer.stop()
            return
        session, controller = w.session, w.controller
        if controller.busy or w.attacher.tray.busy or session.loading_path is not None:
            return
        conversation, text = self._asks.pop(0)
        if session.model is None:
            w.composer.restore(text)
            return
        if controller.conversation_id != conversation:
            w.new_chat()
        controller.send(text, w.composer.effort_name)
