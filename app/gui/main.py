"""`python -m app`: one Hearth window per data folder, the last model loading in the background."""

from __future__ import annotations

import logging
import sys

from app.core import logs
from app.gui import errors
from app.gui.desktop import Desktop, parse_launch
from app.gui.main_window import MainWindow
from app.gui.qt import QtWidgets
from app.gui.single_instance import SingleInstance
from storage import (
    DatabaseDamagedError,
    SchemaTooNewError,
    default_data_dir,
    open_store,
)

log = logging.getLogger("hearth")
APP_ID = "hearth"  # the desktop file's name, Wayland's app id, X11's WM_CLASS instance


def configure(app: QtWidgets.QApplication) -> None:
    """Names and icon: the taskbar groups Hearth's window under its own icon and desktop file."""
    from app.gui.help import app_icon

    app.setApplicationName("Hearth")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())


def main(argv: list[str] | None = None) -> int:
    logs.setup()  # stderr and <data folder>/logs/hearth.log
    argv = list(argv or sys.argv)
    # X11 names the window's class after argv[0]: under `python -m app` that is "__main__.py",
    # which matches no desktop file.
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([APP_ID, *argv[1:]])
    configure(app)
    launch = parse_launch(app.arguments()[1:])  # files, --ask, --quick-ask, --hidden
    data_dir = default_data_dir()
    instance = SingleInstance(data_dir)
    if not instance.acquire():
        if instance.notify_running_instance(launch):  # the running Hearth opens the files
            return 0
        QtWidgets.QMessageBox.warning(None, "Hearth", "Hearth is already running with this data "
                                      f"folder ({data_dir}), but it does not answer.")
        return 1
    try:
        store, report = open_store()  # a damaged database is set aside, a read-only one opened so
    except (SchemaTooNewError, DatabaseDamagedError) as exc:
        QtWidgets.QMessageBox.critical(None, "Hearth", str(exc))
        return 1
    from app.core import preferences
    from app.gui import theme

    theme.apply(app, preferences.load(store).theme)
    app.styleHints().colorSchemeChanged.connect(  # the system switched light/dark
        lambda _scheme: preferences.load(store).theme == "system" and window.apply_theme("system"))
    window = MainWindow(store, report)
    errors.install(window)  # an exception escaping a slot: reported, and the window recovers
    desktop = Desktop(window)  # the tray, quick ask, files opened from the desktop
    instance.on_activation(desktop.handle)
    in_tray = desktop.install_tray()
    desktop.apply_preferences(preferences.load(store))  # the system-wide quick-ask key
    if not (launch.hidden and in_tray):  # at login, where there is a tray: only its icon
        window.show()
    window.start()
    desktop.handle(launch, first=True)
    code = app.exec()
    store.close()
    instance.close()
    return code
