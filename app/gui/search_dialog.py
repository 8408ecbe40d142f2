"""Search every chat (Ctrl/Cmd+K): full-text over messages, matches highlighted and marked as
the question, the answer or its reasoning; Up and Down move through the results from the
search field, Enter or a click opens the conversation at the message, on its branch."""

from __future__ import annotations

from app.gui.qt import Qt, QtCore, QTimer, QtWidgets, Signal
from storage import Store

HIT_ROLE = Qt.ItemDataRole.UserRole


class SearchDialog(QtWidgets.QDialog):
    open_requested = Signal(int, int)  # conversation id, message id

    def __init__(self, store: Store, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search chats")
        self.store = store
        self.query = QtWidgets.QLineEdit()
        self.query.setPlaceholderText("Search all chats…")
        self.query.setClearButtonEnabled(True)
        self.results = QtWidgets.QListWidget()
        self.results.setObjectName("searchResults")
        self.results.setWordWrap(True)
        self.status = QtWidgets.QLabel()
        self.status.setObjectName("facts")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        self.resize(640, 480)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(120)  # search as one types, not on every keystroke
        self._timer.timeout.connect(self.run)
        self.query.textChanged.connect(lambda _text: self._timer.start())
        self.query.returnPressed.connect(self._open_current)
        self.query.installEventFilter(self)  # Up/Down move the selection, typing stays here
        self.results.itemActivated.connect(lambda _item: self._open_current())
        self.results.itemClicked.connect(lambda _item: self._open_current())

    def run(self) -> None:
        self.results.clear()
        text = self.query.text()
        hits = self.store.search(text, limit=100) if text.strip() else []
        for hit in hits:
            who = "You" if hit.role == "user" else "Reasoning" if hit.in_reasoning else "Answer"
            branch = "" if hit.on_current_branch else " (another branch)"
            label = QtWidgets.QLabel(
                f"<b>{_escape(hit.conversation_title)}</b> · {who}{branch}<br>"
                f"{hit.snippet_html('b')}")
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setWordWrap(True)
            label.setContentsMargins(6, 4, 6, 4)
            item = QtWidgets.QListWidgetItem()
            item.setData(HIT_ROLE, (hit.conversation_id, hit.message_id))
            item.setSizeHint(label.sizeHint())
            self.results.addItem(item)
            self.results.setItemWidget(item, label)
        if hits:
            self.results.setCurrentRow(0)
        self.status.setText("" if not text.strip() else
                            f"{len(hits)} match{'es' if len(hits) != 1 else ''}"
                            if hits else "No matches")

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.query and event.type() == QtCore.QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown,
                                    Qt.Key.Key_PageUp):
            if self._timer.isActive():  # the list for what is typed, first
                self._timer.stop()
                self.run()
            count = self.results.count()
            if count:
                step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 5,
                        Qt.Key.Key_PageUp: -5}[event.key()]
                row = max(0, min(count - 1, self.results.currentRow() + step))
                self.results.setCurrentRow(row)
                self.results.scrollToItem(self.results.item(row))
            return True
        return super().eventFilter(watched, event)

    def _open_current(self) -> None:
        if self._timer.isActive():  # Enter typed faster than the debounce
            self._timer.stop()
            self.run()
        item = self.results.currentItem()
        if item is not None:
            conversation_id, message_id = item.data(HIT_ROLE)
            self.open_requested.emit(conversation_id, message_id)
            self.accept()


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)
