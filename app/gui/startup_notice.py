"""What start-up found wrong with the database, in the window: a damaged one set aside (with
Restore backup…), a read-only folder, an upgrade — shown until dismissed (storage/startup.py
decides; this only shows it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.gui.qt import QtCore, QtWidgets
from common.bundle import gui_command

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow
    from storage.startup import StartupReport


def show(window: MainWindow, report: StartupReport | None) -> None:
    if report is None or report.notice is None:
        return
    serious = report.set_aside is not None or report.damage is not None or report.read_only
    if report.set_aside is not None and report.backups:
        action, then = "Restore backup…", lambda: restore_backup(window, report.backups[0])
    elif report.read_only:
        action, then = None, None
    else:
        action, then = "Dismiss", window.storage_banner.hide
    window.storage_banner.show_message(report.notice, "error" if serious else "info", action)
    window.storage_banner.action_clicked.connect(lambda: then and then())


def restore_backup(window: MainWindow, backup) -> None:
    """Put a backup back in place of the database now in use (which is set aside, never
    deleted), then start again on it."""
    answer = QtWidgets.QMessageBox.question(
        window, "Restore backup", f"Restore the backup from {backup.created:%Y-%m-%d %H:%M}?\n\n"
        "The database in use now is kept beside it, renamed. Hearth restarts.")
    if answer != QtWidgets.QMessageBox.StandardButton.Yes:
        return
    from storage import restore_backup as restore

    path = window.store.path
    window.close()
    window.store.close()
    restore(backup, path)
    program, *args = gui_command()  # the bundle's own executable when packaged
    QtCore.QProcess.startDetached(program, args)
    QtWidgets.QApplication.instance().quit()
