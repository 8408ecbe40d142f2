"""The window's library: the indexer process, Settings → Library, the chat's pinned sources in
the Tools menu, and passages opened from a citation or a search hit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.library import sources
from app.core.library.pins import chat_folders, set_chat_folders
from app.core.library.service import Progress
from app.gui.library_runner import LibraryRunner
from app.gui.qt import QObject, QtWidgets

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


class WindowLibrary(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.runner = LibraryRunner(window.store, self)
        self.settings = None  # LibrarySettings while open (kept for tests)
        self.passage = None  # the PassageDialog last opened (kept for tests)
        window.window_tools.button.extra_menu = self.add_sources_menu
        # While the library indexes, the status bar says so (the window indexes in the
        # background); a click opens Settings → Library.
        self.status = QtWidgets.QPushButton()
        self.status.setObjectName("libraryStatus")
        self.status.setFlat(True)
        self.status.setToolTip("Library folders: click for progress, Pause and skipped files")
        self.status.clicked.connect(self.show_settings)
        self.status.hide()
        window.statusBar().addPermanentWidget(self.status)
        self.runner.progress.connect(self.show_status)
        self.show_status(self.runner.last)

    def show_status(self, progress: Progress) -> None:
        busy = progress.state in ("scanning", "indexing") or (
            progress.state == "paused" and progress.done < progress.total)
        self.status.setText(f"Library · {progress.line()}" if busy else "")
        self.status.setVisible(busy)

    def show_settings(self) -> None:
        from app.gui.library_settings import LibrarySettings

        dialog = LibrarySettings(self.window.store, self.runner, self.window)
        dialog.open()
        self.settings = dialog

    def show_source(self, source: sources.Source, title: str | None = None):
        from app.gui.passage_dialog import PassageDialog

        dialog = PassageDialog(source, title, self.window)
        dialog.open()
        self.passage = dialog
        return dialog

    def show_citation(self, answer_id: int, key: int):
        """Citation [key] of an answer: its passage, file and page; None if it has none."""
        found = sources.of_citation(self.window.store, answer_id, key)
        return None if found is None else self.show_source(found, f"[{key}] {found.label}")

    def add_sources_menu(self, menu: QtWidgets.QMenu, conversation_id: int | None) -> None:
        """The Tools menu's "Documents from": the whole library, or folders pinned to this
        chat (what the documents tool searches)."""
        store = self.window.store
        folders = store.library.folders()
        if not folders or conversation_id is None:
            return
        pinned = set(chat_folders(store, conversation_id))
        sub = menu.addMenu("Documents from" + (f" ({len(pinned)} pinned)" if pinned else ""))
        sub.setObjectName("librarySources")
        everything = sub.addAction("The whole library")
        everything.setCheckable(True)
        everything.setChecked(not pinned)
        everything.triggered.connect(lambda: set_chat_folders(store, conversation_id, []))
        sub.addSeparator()
        for folder in folders:
            action = sub.addAction(folder.name)
            action.setToolTip(folder.shown_path)
            action.setCheckable(True)
            action.setChecked(folder.id in pinned)
            action.toggled.connect(lambda on, fid=folder.id: set_chat_folders(
                store, conversation_id,
                [i for i in chat_folders(store, conversation_id) if i != fid] + ([fid] if on else [])))

    def close(self) -> None:
        self.runner.shutdown()
