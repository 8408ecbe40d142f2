"""The main window's menus and window-wide shortcuts, in one place to read them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.gui import batch, clipboard, help, quick_ask
from app.gui.qt import Qt, QtGui, QtWidgets
from app.gui.sidebar import EXPORT_FORMATS

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

OPEN_MODEL = "Open model…"
Key = QtGui.QKeySequence


def _keys(*keys) -> list[QtGui.QKeySequence]:
    """Shortcuts, the first shown in the menu. Of a standard key's bindings only those with
    Ctrl (Cmd) or a function key: not a keyboard's "Open" or "Copy" media key, nor X11's
    Shift+Ins (text fields keep handling those themselves); one the platform leaves empty
    (Preferences on Linux) is dropped rather than shown as nothing."""
    out = []
    for key in keys:
        standard = isinstance(key, Key.StandardKey)
        for seq in Key.keyBindings(key) if standard else [Key(key)]:
            if seq.isEmpty() or seq in out or (standard and not _commandish(seq)):
                continue
            out.append(seq)
    return out


def _commandish(seq: QtGui.QKeySequence) -> bool:
    combo = seq[0]
    command = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
    return bool(combo.keyboardModifiers() & command) or \
        Qt.Key.Key_F1.value <= combo.key().value <= Qt.Key.Key_F35.value


def build(win: MainWindow) -> None:
    bar = win.menuBar()
    file_menu = bar.addMenu("&File")
    win.open_action = file_menu.addAction(OPEN_MODEL, win.choose_model)
    win.open_action.setShortcuts(_keys(Key.StandardKey.Open))
    win.new_action = file_menu.addAction("New chat", win.new_chat)
    win.new_action.setShortcuts(_keys(Key.StandardKey.New))
    win.quick_ask_action = file_menu.addAction("Quick ask…", lambda: quick_ask.show_for(win))
    win.quick_ask_action.setShortcut(Key(quick_ask.SHORTCUT))
    win.quick_ask_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
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
    settings.setShortcuts(_keys("Ctrl+,", Key.StandardKey.Preferences))
    win.settings_action = settings
    from app.gui import engines_settings, server_settings

    file_menu.addAction("Engines…", lambda: engines_settings.show(win))
    file_menu.addAction("Local server…", lambda: server_settings.show(win))
    file_menu.addSeparator()
    quit_action = file_menu.addAction("Quit", win.quit)  # closing the window may only hide it
    quit_action.setShortcuts(_keys(Key.StandardKey.Quit, "Ctrl+Q"))

    edit_menu = bar.addMenu("&Edit")
    for text, method, key in (("Undo", "undo", Key.StandardKey.Undo),
                              ("Redo", "redo", Key.StandardKey.Redo),
                              (None, None, None),
                              ("Cut", "cut", Key.StandardKey.Cut),
                              ("Copy", "copy", Key.StandardKey.Copy),
                              ("Paste", "paste", Key.StandardKey.Paste),
                              ("Select all", "selectAll", Key.StandardKey.SelectAll)):
        if text is None:
            edit_menu.addSeparator()
            continue
        action = edit_menu.addAction(text, lambda m=method: edit_focused(m))
        action.setShortcuts(_keys(key))
    edit_menu.addSeparator()
    find = edit_menu.addAction("Find in chats…", win.show_search)
    find.setShortcuts(_keys("Ctrl+K", Key.StandardKey.Find))
    win.find_action = find

    prompts_menu = bar.addMenu("&Prompts")
    library = prompts_menu.addAction("Prompt library…", win.prompts.show_library)
    library.setShortcut(Key("Ctrl+Shift+L"))
    prompts_menu.addAction("Insert a saved prompt  (type / in the composer)",
                           lambda: (win.composer.insert_prompt_text("/"), win.show_chat()))
    prompts_menu.addAction("Batch run…", lambda: batch.show(win))  # a prompt × many documents

    models_menu = bar.addMenu("&Models")
    manager = models_menu.addAction("Model manager…", win.show_model_manager)
    manager.setShortcut(Key("Ctrl+Shift+M"))
    models_menu.addAction("Add a model folder…", win.add_model_folder)
    models_menu.addAction("Welcome screen", win.show_welcome)

    help_menu = bar.addMenu("&Help")
    shortcuts = help_menu.addAction("Keyboard shortcuts", win.show_shortcuts)
    shortcuts.setShortcuts(_keys("Ctrl+/", Key.StandardKey.HelpContents))
    help_menu.addAction("Open log folder", help.open_log_folder)
    help_menu.addSeparator()
    about = help_menu.addAction("About Hearth", win.show_about)
    about.setMenuRole(QtGui.QAction.MenuRole.AboutRole)

    stop = QtGui.QAction("Stop the answer", win)
    stop.setShortcut(Qt.Key.Key_Escape)
    stop.triggered.connect(  # Esc: stop the answer, or else leave editing
        lambda: win.controller.stop() if win.controller.busy else win.controller.cancel_edit())
    win.addAction(stop)
    win.stop_action = stop


def edit_focused(method: str) -> None:
    """An Edit menu command on whatever has the keyboard focus; a copy says "Copied"."""
    widget = QtWidgets.QApplication.focusWidget()
    if widget is None:
        return
    if method == "copy":
        text = _selected_text(widget)
        if text:
            clipboard.copy(text, widget)
        return
    action = getattr(widget, method, None)
    if callable(action):
        action()


def _selected_text(widget) -> str:
    if isinstance(widget, (QtWidgets.QLineEdit, QtWidgets.QLabel)):
        return widget.selectedText()
    if isinstance(widget, (QtWidgets.QPlainTextEdit, QtWidgets.QTextEdit)):
        # Qt marks line breaks in a selection with U+2029.
        return widget.textCursor().selectedText().replace("\u2029", "\n")
    return ""
