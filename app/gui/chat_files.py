"""Export a chat to a file and import one, from the window: the files are written and read
off the GUI thread (a long chat is megabytes of HTML; an import is validated in full)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.core import export
from app.gui.background import BackgroundOp
from app.gui.qt import QObject, QtWidgets
from common.errors import UserError
from storage import Store

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def _write(store_path, conversation_id: int, ext: str, target: str) -> str:
    with Store(store_path) as store:  # a connection of the pool thread's own
        if ext == "md":
            text = export.export_markdown(store, conversation_id)
        elif ext == "html":
            text = export.export_html(store, conversation_id)
        else:
            text = export.dumps(export.export_json(store, conversation_id))
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Could not write {target}: {exc.strerror or exc}") from exc
    return target


def _read(store_path, source: str) -> int:
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise UserError(f"Could not read {Path(source).name}: {exc.strerror or exc}") from exc
    with Store(store_path) as store:
        try:
            return export.import_json(store, data)
        except export.ConversationImportError as exc:
            raise UserError(f"Could not import {Path(source).name}: {exc}") from exc


class ChatFiles(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def export(self, conversation_id: int, ext: str, target: str | None = None) -> None:
        """Ask where (unless `target`), then write the chat there as Markdown, HTML or JSON."""
        win = self.window
        conversation = win.store.conversations.get(conversation_id)
        if conversation is None:
            return
        if target is None:
            safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in conversation.title)
            target, _ = QtWidgets.QFileDialog.getSaveFileName(
                win, "Export chat", str(Path.home() / f"{safe.strip() or 'chat'}.{ext}"),
                f"{ext.upper()} files (*.{ext})")
            if not target:
                return
        store_path = win.store.path
        (BackgroundOp(self, lambda: _write(store_path, conversation_id, ext, target))
         .success(lambda path: win.statusBar().showMessage(f"Exported to {path}", 6000))
         .run_in_background())

    def choose_import(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Import chat", str(Path.home()), "Hearth chats (*.json);;All files (*)")
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        store_path = self.window.store.path
        BackgroundOp(self, lambda: _read(store_path, path)).success(self._imported).run_in_background()

    def _imported(self, conversation_id: int) -> None:
        win = self.window
        win.show_chat()
        win.controller.open_conversation(conversation_id)
        win.refresh_conversations()
