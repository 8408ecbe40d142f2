"""Hearth in the menu bar (macOS) or the system tray: closing the window keeps Hearth running
with the model loaded, so the next question starts at once; Quit unloads.

Only a desktop with a tray (`QSystemTrayIcon.isSystemTrayAvailable()`) gets the icon, and
only then does closing the window hide it: without one, closing quits as before, so Hearth is
never left running where nobody can reach it. (Qt's offscreen platform has no tray; the tests
show the icon by hand to check what a desktop with one does.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.core import preferences
from app.gui.qt import QObject, QtWidgets

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

NOTICE_KEY = "tray_notice_shown"  # the settings row: "still running in the tray" was said
NOTICE = ("Hearth is still running in the {where}, with the model loaded, so the next question "
          "starts at once. Quit from its menu or with File → Quit; Settings can change this.")
NO_MODEL = "No model loaded"


class Tray(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        from app.gui.help import app_icon

        self.window = window
        self.icon = QtWidgets.QSystemTrayIcon(app_icon(), self)
        self.icon.setToolTip("Hearth")
        self.menu = QtWidgets.QMenu()  # no parent: a tray menu is a window of its own
        self.new_chat = self.menu.addAction("New chat", self.show_new_chat)
        self.quick_ask = self.menu.addAction("Quick ask…")
        self.show_action = self.menu.addAction("Show Hearth", self.show_window)
        self.menu.addSeparator()
        self.model = self.menu.addAction(NO_MODEL)
        self.model.setEnabled(False)  # a label: which model is loaded
        self.menu.addSeparator()
        self.quit = self.menu.addAction("Quit Hearth", window.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        window.session.changed.connect(self.show_model)
        window.session.loading.connect(lambda path: self.model.setText(f"Loading {Path(path).name}…"))
        self.notice = ""  # the last notice shown, kept for tests

    @staticmethod
    def available() -> bool:
        return QtWidgets.QSystemTrayIcon.isSystemTrayAvailable()

    def install(self) -> bool:
        """Show the icon where the desktop has a tray; True if it does."""
        if self.available():
            self.icon.show()
        return self.icon.isVisible()

    def keeps_running(self) -> bool:
        """Closing the window hides it (rather than quitting) when the icon is there to bring
        it back and the person has not turned that off."""
        return self.icon.isVisible() and preferences.load(self.window.store).close_to_tray

    def window_closed(self) -> None:
        """The window was hidden into the tray: the first time, say so."""
        store = self.window.store
        if store.read_only or store.settings.get(NOTICE_KEY):
            return
        store.settings.set(NOTICE_KEY, True)
        self.notice = NOTICE.format(where="menu bar" if sys.platform == "darwin" else "system tray")
        self.icon.showMessage("Hearth", self.notice, self.icon.icon(), 8000)

    def show_model(self, info) -> None:
        self.model.setText(f"Model: {info.name}" if info is not None else NO_MODEL)

    def show_window(self) -> None:
        w = self.window
        w.showNormal() if w.isMinimized() else w.show()
        w.raise_()
        w.activateWindow()

    def show_new_chat(self) -> None:
        self.show_window()
        self.window.new_chat()

    def _activated(self, reason) -> None:
        # A click brings the window (macOS opens the menu on click by itself).
        if reason in (QtWidgets.QSystemTrayIcon.ActivationReason.Trigger,
                      QtWidgets.QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_window()
