"""Settings → Desktop: keep running in the tray when the window closes, and Open at login."""

from __future__ import annotations

import sys

from app.core import autostart
from app.core.preferences import Preferences
from app.gui import global_shortcut
from app.gui.qt import QtWidgets
from app.gui.quick_ask import SHORTCUT
from app.gui.tray import Tray


class DesktopSettings(QtWidgets.QWidget):
    def __init__(self, current: Preferences, parent=None) -> None:
        super().__init__(parent)
        where = "menu bar" if sys.platform == "darwin" else "system tray"
        self.close_to_tray = QtWidgets.QCheckBox(f"Closing the window keeps Hearth in the {where}")
        self.close_to_tray.setChecked(current.close_to_tray)
        self.close_to_tray.setToolTip("The model stays loaded, so the next question starts at "
                                      "once. Quit from the tray menu or File → Quit.")
        if not Tray.available():
            self.close_to_tray.setToolTip("This desktop shows no tray icons: closing the window "
                                          "quits Hearth.")
        self.open_at_login = QtWidgets.QCheckBox("Open at login (in the tray)")
        self.open_at_login.setChecked(autostart.is_enabled())
        self.open_at_login.setEnabled(autostart.supported())
        self.open_at_login.setToolTip(f"Adds {autostart.entry_path()}")
        self.global_quick_ask = QtWidgets.QCheckBox(f"{SHORTCUT} opens Quick ask from any app")
        self.global_quick_ask.setChecked(current.global_quick_ask)
        why = global_shortcut.unavailable_reason()
        if why is None:
            self.global_quick_ask.setToolTip("Another app that uses the same key loses it "
                                             "while Hearth runs.")
        else:
            self.global_quick_ask.setEnabled(False)
            self.global_quick_ask.setToolTip(why)
        self.error = ""
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.close_to_tray)
        layout.addWidget(self.open_at_login)
        layout.addWidget(self.global_quick_ask)

    def apply(self) -> bool:
        """Write or remove the login entry if the box changed; False (and `error`) if that failed."""
        wanted = self.open_at_login.isChecked()
        if wanted == autostart.is_enabled() or not autostart.supported():
            return True
        try:
            autostart.set_enabled(wanted)
        except OSError as exc:
            self.error = f"Could not change Open at login ({autostart.entry_path()}): {exc}"
            return False
        return True
