"""Search every chat (Ctrl/Cmd+K): full-text over messages, matches highlighted, Enter opens
the conversation at the message, on its branch."""

from __future__ import annotations

from app.gui.qt import Qt, QTimer, QtWidgets, Signal
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
        self.results.itemActivated.connect(lambda _item: self._open_current())

    def run(self) -> None:
        self.results.clear()
        text = self.query.text()
        hits = self.store.search(text, limit=100) if text.strip() else []
        for hit in hits:
            who = "You" if hit.role == "user" else "Answer"
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
