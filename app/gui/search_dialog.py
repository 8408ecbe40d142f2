"""Search every chat and the library (Ctrl/Cmd+K): full-text over messages and over the
passages of library files, in two tabs, matches highlighted and a message marked as the
question, the answer or its reasoning. Up and Down move through the shown tab's results from
the search field; Enter or a click on a message opens the conversation at it, on its branch,
on a passage the passage with its file and page and a button to open the file.

Chats are searched on the GUI thread (a few ms, see docs/performance.md); the library, which
can hold a million passages, on a worker thread with its own connection, the newest query's
results shown and older ones dropped."""

from __future__ import annotations

import html

from app.core.library.sources import Source, of_hit
from app.gui.background import BackgroundOp
from app.gui.qt import Qt, QtCore, QTimer, QtWidgets, Signal
from storage import Store
from storage.library import search_library

HIT_ROLE = Qt.ItemDataRole.UserRole
LIBRARY_LIMIT = 50


class SearchDialog(QtWidgets.QDialog):
    open_requested = Signal(int, int)  # conversation id, message id
    passage_requested = Signal(object)  # app.core.library.sources.Source

    def __init__(self, store: Store, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search chats and library")
        self.store = store
        self.query = QtWidgets.QLineEdit()
        self.query.setPlaceholderText("Search all chats and library folders…")
        self.query.setClearButtonEnabled(True)
        self.results = QtWidgets.QListWidget()
        self.results.setObjectName("searchResults")
        self.results.setWordWrap(True)
        self.passages = QtWidgets.QListWidget()
        self.passages.setObjectName("libraryResults")
        self.passages.setWordWrap(True)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.results, "Chats")
        self.tabs.addTab(self.passages, "Library")
        self.status = QtWidgets.QLabel()
        self.status.setObjectName("facts")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status)
        self.resize(680, 520)
        self._sources: list[Source] = []
        self._generation = 0
        self._library_count: int | None = None
        self._chat_count = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)  # search as one types, not on every keystroke
        self._timer.timeout.connect(self.run)
        self.query.textChanged.connect(lambda _text: self._timer.start())
        self.query.returnPressed.connect(self._open_current)
        self.query.installEventFilter(self)  # Up/Down move the selection, typing stays here
        for results in (self.results, self.passages):
            results.itemActivated.connect(lambda _item: self._open_current())
            results.itemClicked.connect(lambda _item: self._open_current())

    def run(self) -> None:
        self.results.clear()
        text = self.query.text()
        hits = self.store.search(text, limit=100) if text.strip() else []
        for hit in hits:
            who = "You" if hit.role == "user" else "Reasoning" if hit.in_reasoning else "Answer"
            branch = "" if hit.on_current_branch else " (another branch)"
            self._add(self.results, f"<b>{_escape(hit.conversation_title)}</b> · {who}{branch}<br>"
                      f"{hit.snippet_html('b')}", (hit.conversation_id, hit.message_id))
        if hits:
            self.results.setCurrentRow(0)
        self._chat_count = len(hits)
        self._search_library(text)
        self._show_status()

    def _search_library(self, text: str) -> None:
        self._generation += 1
        generation = self._generation
        self.passages.clear()
        self._sources = []
        if not text.strip():
            self._library_count = 0
            return
        self._library_count = None  # searching
        store = self.store

        def find():
            with store.reopen() as own:  # its own connection: this runs on a worker thread
                hits = search_library(own, text, limit=LIBRARY_LIMIT)
                return [(hit, of_hit(own, hit, text)) for hit in hits]

        BackgroundOp(self, find).success(
            lambda found: self._show_library(generation, found)).failure(
            lambda exc: self._show_library(generation, [], exc)).run_in_background()

    def _show_library(self, generation: int, found: list, error: BaseException | None = None
                      ) -> None:
        if generation != self._generation:
            return  # an older query's answer
        self.passages.clear()
        self._sources = [source for _hit, source in found]
        for row, (hit, source) in enumerate(found):
            where = _escape(source.path or "") if source.path else "attached to a chat"
            # The path small, in the text's colour: grey was unreadable on the selection.
            self._add(self.passages, f"<b>{_escape(source.label)}</b><br>"
                      f"<small>{where}</small><br>{hit_html(hit.snippet)}", row)
        if found:
            self.passages.setCurrentRow(0)
            if not self._chat_count:
                self.tabs.setCurrentWidget(self.passages)
        self._library_count = len(found)
        if error is not None:
            self.status.setText(f"The library could not be searched: {error}")
            return
        self._show_status()

    def _show_status(self) -> None:
        chats, library = self._chat_count, self._library_count
        self.tabs.setTabText(0, f"Chats ({chats})" if self.query.text().strip() else "Chats")
        self.tabs.setTabText(1, "Library" if library is None or not self.query.text().strip()
                             else f"Library ({library})")
        if not self.query.text().strip():
            self.status.setText("")
        elif library is None:
            self.status.setText(f"{_matches(chats)} in chats; searching the library…")
        else:
            self.status.setText(f"{_matches(chats)} in chats, {_matches(library)} in the library"
                                if chats or library else "No matches")

    @staticmethod
    def _add(widget: QtWidgets.QListWidget, markup: str, data) -> None:
        label = QtWidgets.QLabel(markup)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setContentsMargins(6, 4, 6, 4)
        item = QtWidgets.QListWidgetItem()
        item.setData(HIT_ROLE, data)
        item.setSizeHint(label.sizeHint())
        widget.addItem(item)
        widget.setItemWidget(item, label)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.query and event.type() == QtCore.QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown,
                                    Qt.Key.Key_PageUp):
            if self._timer.isActive():  # the list for what is typed, first
                self._timer.stop()
                self.run()
            shown = self.tabs.currentWidget()
            if shown.count():
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 5,
                        Qt.Key.Key_PageUp: -5}[event.key()]
                row = max(0, min(shown.count() - 1, shown.currentRow() + step))
                shown.setCurrentRow(row)
                shown.scrollToItem(shown.item(row))
            return True
        return super().eventFilter(watched, event)

    def _open_current(self) -> None:
        if self._timer.isActive():  # Enter typed faster than the debounce
            self._timer.stop()
            self.run()
        if self.tabs.currentWidget() is self.passages:
            item = self.passages.currentItem()
            if item is not None and item.data(HIT_ROLE) < len(self._sources):
                self.passage_requested.emit(self._sources[item.data(HIT_ROLE)])
            return
        item = self.results.currentItem()
        if item is not None:
            conversation_id, message_id = item.data(HIT_ROLE)
            self.open_requested.emit(conversation_id, message_id)
            self.accept()


def _matches(n: int) -> str:
    return f"{n} match{'es' if n != 1 else ''}"


def hit_html(snippet: str) -> str:
    from storage import HIGHLIGHT_END, HIGHLIGHT_START

    return _escape(snippet).replace(HIGHLIGHT_START, "<b>").replace(HIGHLIGHT_END, "</b>")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)
