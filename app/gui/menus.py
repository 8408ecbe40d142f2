"""The main window's menus and window-wide shortcuts, in one place to read them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.gui.qt import Qt, QtGui
from app.gui.sidebar import EXPORT_FORMATS

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

OPEN_MODEL = "Open model…"


def build(win: MainWindow) -> None:
    bar = win.menuBar()
    file_menu = bar.addMenu("&File")
    win.open_action = file_menu.addAction(OPEN_MODEL, win.choose_model)
    win.open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
    new = file_menu.addAction("New chat", win.controller.new_conversation)
    new.setShortcut(QtGui.QKeySequence.StandardKey.New)
    search = file_menu.addAction("Search chats…", win.show_search)
    search.setShortcut(QtGui.QKeySequence("Ctrl+K"))
    file_menu.addSeparator()
    export = file_menu.addMenu("Export chat as")
    for label, ext in EXPORT_FORMATS:
        export.addAction(label, lambda e=ext: win.controller.conversation_id
                         and win.chat_files.export(win.controller.conversation_id, e))
    file_menu.addAction("Import chat…", win.chat_files.choose_import)
    file_menu.addSeparator()
    file_menu.addAction("Library folders…", win.library.show_settings)
    settings = file_menu.addAction("Settings…", win.show_settings)
    settings.setMenuRole(QtGui.QAction.MenuRole.PreferencesRole)  # the app menu on macOS
    settings.setShortcuts([QtGui.QKeySequence.StandardKey.Preferences, QtGui.QKeySequence("Ctrl+,")])
    file_menu.addSeparator()
    quit_action = file_menu.addAction("Quit", win.close)
    quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)

    prompts_menu = bar.addMenu("&Prompts")
    library = prompts_menu.addAction("Prompt library…", win.prompts.show_library)
    library.setShortcut(QtGui.QKeySequence("Ctrl+Shift+L"))
    prompts_menu.addAction("Insert a saved prompt  (type / in the composer)",
                           lambda: (win.composer.insert_prompt_text("/"), win.show_chat()))

    models_menu = bar.addMenu("&Models")
    manager = models_menu.addAction("Model manager…", win.show_model_manager)
    manager.setShortcut(QtGui.QKeySequence("Ctrl+Shift+M"))
    models_menu.addAction("Add a model folder…", win.add_model_folder)
    models_menu.addAction("Welcome screen", win.show_welcome)

    stop = QtGui.QAction("Stop", win)
    stop.setShortcut(Qt.Key.Key_Escape)
    stop.triggered.connect(  # Esc: stop the answer, or else leave editing
        lambda: win.controller.stop() if win.controller.busy else win.controller.cancel_edit())
    win.addAction(stop)
    win.stop_action = stop
