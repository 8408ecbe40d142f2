"""`python -m app`: one Hearth window per data folder, the last model loading in the background."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from app.core import logs
from app.gui import errors, warm_up
from app.gui.main_window import MainWindow
from app.gui.qt import QtCore, QtNetwork, QtWidgets
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


class SingleInstance:
    """The first Hearth listens on a local socket; a second one asks it to come forward, then quits.

    The lock file makes the check race-free; the socket name is derived from the data folder
    so two data folders (tests, say) never collide.
    """

    def __init__(self, data_dir) -> None:
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        self.name = f"hearth-{digest}"
        # In the data folder, or — where that folder cannot be written — in a per-user place:
        # a read-only folder must not read as "Hearth is already running".
        where = data_dir if os.access(data_dir, os.W_OK) else Path(tempfile.gettempdir())
        self.lock = QtCore.QLockFile(str(where / (f"hearth-{digest}.lock" if where != data_dir
                                                  else "hearth.lock")))
        self.lock.setStaleLockTime(0)
        self.server = None

    def acquire(self) -> bool:
        if self.lock.tryLock(200):
            QtNetwork.QLocalServer.removeServer(self.name)
            self.server = QtNetwork.QLocalServer()
            self.server.listen(self.name)
            return True
        return False

    def notify_running_instance(self) -> bool:
        socket = QtNetwork.QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(1000):
            return False
        socket.write(b"raise\n")
        socket.waitForBytesWritten(1000)
        socket.disconnectFromServer()
        return True

    def on_activation(self, callback) -> None:
        if self.server is not None:
            self.server.newConnection.connect(lambda: (self.server.nextPendingConnection(), callback()))


def main(argv: list[str] | None = None) -> int:
    logs.setup()  # stderr and <data folder>/logs/hearth.log
    argv = list(argv or sys.argv)
    # X11 names the window's class after argv[0]: under `python -m app` that is "__main__.py",
    # which matches no desktop file.
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([APP_ID, *argv[1:]])
    configure(app)
    data_dir = default_data_dir()
    instance = SingleInstance(data_dir)
    if not instance.acquire():
        if instance.notify_running_instance():
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
    instance.on_activation(lambda: (window.showNormal(), window.raise_(), window.activateWindow()))
    window.show()
    window.start()
    warm_up.after_start()
    code = app.exec()
    store.close()
    instance.lock.unlock()
    return code
