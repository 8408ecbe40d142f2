"""Light and dark themes: one stylesheet with @colour names, two palettes, following the system
unless the user picks one. Fusion + a QPalette so dialogs, menus and scroll bars match too,
on every platform."""

from __future__ import annotations

import re

from app.gui.qt import Qt, QtGui, QtWidgets

LIGHT = {
    "window": "#fbfaf8", "sidebar": "#f1efeb", "border": "#e2ded7", "selected": "#e3ded5",
    "text": "#1d1b18", "fieldBorder": "#d6d0c6", "field": "#ffffff", "bubble": "#ece7df",
    "muted": "#77716a", "rule": "#ddd6cb", "faint": "#8d877f", "error": "#b3261e",
    "accent": "#c2571a", "secondary": "#5b5650", "infoBg": "#eef3fb", "infoBorder": "#c9d7ee",
    "errorBg": "#fdeceb", "errorBorder": "#f1c4c0", "busyBg": "#f5f1e8", "busyBorder": "#e6dcc6",
    "accentBorder": "#e4b48f", "disabled": "#d9cfc4", "track": "#efebe5", "fitsBg": "#e3f1e5",
    "fitsText": "#1e6b32", "tightBg": "#fbf0d9", "tightText": "#8a5a00",
    "highlight": "#c2571a", "link": "#a5460f",
}
DARK = {
    "window": "#1f1e1c", "sidebar": "#181716", "border": "#34312d", "selected": "#3a3631",
    "text": "#ece8e1", "fieldBorder": "#4a4540", "field": "#2a2825", "bubble": "#33302b",
    "muted": "#a59e94", "rule": "#4a4540", "faint": "#8f887e", "error": "#f2b8b5",
    "accent": "#d9692a", "secondary": "#6b655e", "infoBg": "#1f2a3a", "infoBorder": "#34496b",
    "errorBg": "#3b1f1d", "errorBorder": "#6e2f2a", "busyBg": "#2f2a21", "busyBorder": "#574a33",
    "accentBorder": "#8a4a22", "disabled": "#4a4540", "track": "#34312d", "fitsBg": "#1e3324",
    "fitsText": "#9fd6a9", "tightBg": "#3a2f17", "tightText": "#f0c674",
    "highlight": "#d9692a", "link": "#f0a070",
}

_TOKEN = re.compile(r"@([A-Za-z]+)")
_dark = False


def is_dark() -> bool:
    """Whether the dark theme is in use now (Markdown code colours follow it)."""
    return _dark


def colour(name: str) -> str:
    """A named colour of the theme in use, for the few places a stylesheet cannot reach."""
    return (DARK if _dark else LIGHT)[name]


def system_prefers_dark(app: QtWidgets.QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def stylesheet(palette: dict[str, str]) -> str:
    from resources import read_text

    return _TOKEN.sub(lambda m: palette[m.group(1)], read_text("style.qss"))


def apply(app: QtWidgets.QApplication, choice: str = "system") -> bool:
    """Apply a theme choice ("system", "light" or "dark"); returns whether it is dark."""
    global _dark
    _dark = choice == "dark" or (choice == "system" and system_prefers_dark(app))
    colours = DARK if _dark else LIGHT
    app.setStyle("Fusion")
    app.setPalette(_qpalette(colours))
    app.setStyleSheet(stylesheet(colours))
    return _dark


def _qpalette(c: dict[str, str]) -> QtGui.QPalette:
    p = QtGui.QPalette()
    role, colour = QtGui.QPalette.ColorRole, QtGui.QColor
    for r, name in ((role.Window, "window"), (role.Base, "field"), (role.AlternateBase, "sidebar"),
                    (role.Button, "field"), (role.Text, "text"), (role.WindowText, "text"),
                    (role.ButtonText, "text"), (role.ToolTipBase, "field"), (role.ToolTipText, "text"),
                    (role.PlaceholderText, "faint"), (role.Highlight, "highlight"),
                    (role.Link, "link"), (role.Mid, "border"), (role.Midlight, "border"),
                    (role.Dark, "secondary"), (role.Light, "field")):
        p.setColor(r, colour(c[name]))
    p.setColor(role.HighlightedText, colour("#ffffff"))
    p.setColor(QtGui.QPalette.ColorGroup.Disabled, role.Text, colour(c["faint"]))
    p.setColor(QtGui.QPalette.ColorGroup.Disabled, role.ButtonText, colour(c["faint"]))
    p.setColor(QtGui.QPalette.ColorGroup.Disabled, role.WindowText, colour(c["faint"]))
    return p
