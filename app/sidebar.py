"""The conversation list: new, select, rename, delete."""

from __future__ import annotations

from storage import Conversation

from .qt import Qt, QtWidgets, Signal

ID_ROLE = Qt.ItemDataRole.UserRole


class Sidebar(QtWidgets.QFrame):
    selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.new_button = QtWidgets.QPushButton("New chat")
        self.new_button.setObjectName("newChatButton")
        self.new_button.clicked.connect(self.new_requested)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("conversationList")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.itemChanged.connect(self._on_edited)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.list)
        self._filling = False

    def set_conversations(self, conversations: list[Conversation], current: int | None) -> None:
        self._filling = True
        self.list.clear()
        for c in conversations:
            item = QtWidgets.QListWidgetItem(c.title)
            item.setData(ID_ROLE, c.id)
            item.setToolTip(c.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if c.id == current:
                self.list.setCurrentItem(item)
        self._filling = False

    def titles(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def _on_current(self, item, _previous) -> None:
        if item is not None and not self._filling:
            self.selected.emit(item.data(ID_ROLE))

    def _on_edited(self, item) -> None:
        if not self._filling:
            self.rename_requested.emit(item.data(ID_ROLE), item.text())

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        menu = QtWidgets.QMenu(self)
        rename = menu.addAction("Rename")
        delete = menu.addAction("Delete…")
        chosen = menu.exec(self.list.viewport().mapToGlobal(pos))
        if chosen is rename:
            self.list.editItem(item)
        elif chosen is delete:
            answer = QtWidgets.QMessageBox.question(
                self, "Delete conversation", f"Delete “{item.text()}” and all its messages?")
            if answer == QtWidgets.QMessageBox.StandardButton.Yes:
                self.delete_requested.emit(item.data(ID_ROLE))
