"""The conversation list: grouped by date (pinned first), new, select, rename, pin, export,
delete to the trash."""

from __future__ import annotations

import datetime as _dt

from app.gui.qt import Qt, QtWidgets, Signal
from storage import Conversation

ID_ROLE = Qt.ItemDataRole.UserRole
EXPORT_FORMATS = (("Markdown", "md"), ("HTML", "html"), ("JSON", "json"))


def group_label(conversation: Conversation, today: _dt.date) -> str:
    """The sidebar section a conversation falls in, by its last activity in local time."""
    if conversation.pinned:
        return "Pinned"
    when = _dt.datetime.fromisoformat(conversation.updated_at).astimezone().date()
    days = (today - when).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:
        return "Previous 7 days"
    if days < 30:
        return "Previous 30 days"
    return when.strftime("%B %Y") if when.year != today.year else when.strftime("%B")


class Sidebar(QtWidgets.QFrame):
    selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    pin_requested = Signal(int, bool)
    export_requested = Signal(int, str)  # id, "md" | "html" | "json"
    show_older_requested = Signal()

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
        self._pinned: dict[int, bool] = {}

    def set_conversations(self, conversations: list[Conversation], current: int | None,
                          today: _dt.date | None = None, hidden: int = 0) -> None:
        """`hidden`: older chats not listed; a last row offers them."""
        today = today or _dt.date.today()
        self._filling = True
        self.list.clear()
        self._pinned = {c.id: c.pinned for c in conversations}
        group = None
        for c in conversations:
            label = group_label(c, today)
            if label != group:
                group = label
                header = QtWidgets.QListWidgetItem(label)
                header.setFlags(Qt.ItemFlag.NoItemFlags)  # a heading: not selectable
                header.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "heading")
                font = header.font()
                font.setPointSizeF(font.pointSizeF() * 0.85)
                font.setBold(True)
                header.setFont(font)
                self.list.addItem(header)
            item = QtWidgets.QListWidgetItem(c.title)
            item.setData(ID_ROLE, c.id)
            item.setToolTip(c.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            if c.id == current:
                self.list.setCurrentItem(item)
        if hidden:
            more = QtWidgets.QListWidgetItem(f"Show {hidden:,} older chats…")
            more.setData(Qt.ItemDataRole.AccessibleDescriptionRole, "more")
            self.list.addItem(more)
        self._filling = False

    def _items(self) -> list[QtWidgets.QListWidgetItem]:
        return [self.list.item(i) for i in range(self.list.count())
                if self.list.item(i).data(ID_ROLE) is not None]

    def titles(self) -> list[str]:
        return [item.text() for item in self._items()]

    def headings(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())
                if self.list.item(i).data(ID_ROLE) is None
                and self.list.item(i).data(Qt.ItemDataRole.AccessibleDescriptionRole) == "heading"]

    def item_for(self, conversation_id: int) -> QtWidgets.QListWidgetItem | None:
        return next((i for i in self._items() if i.data(ID_ROLE) == conversation_id), None)

    def _on_current(self, item, _previous) -> None:
        if item is None or self._filling:
            return
        if item.data(ID_ROLE) is not None:
            self.selected.emit(item.data(ID_ROLE))
        elif item.data(Qt.ItemDataRole.AccessibleDescriptionRole) == "more":
            self.show_older_requested.emit()

    def _on_edited(self, item) -> None:
        if not self._filling and item.data(ID_ROLE) is not None:
            self.rename_requested.emit(item.data(ID_ROLE), item.text())

    def _menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(ID_ROLE) is None:
            return
        cid = item.data(ID_ROLE)
        menu = QtWidgets.QMenu(self)
        rename = menu.addAction("Rename")
        pinned = self._pinned.get(cid, False)
        pin = menu.addAction("Unpin" if pinned else "Pin to the top")
        export = menu.addMenu("Export as")
        formats = {export.addAction(label): ext for label, ext in EXPORT_FORMATS}
        menu.addSeparator()
        delete = menu.addAction("Move to trash")
        chosen = menu.exec(self.list.viewport().mapToGlobal(pos))
        if chosen is rename:
            self.list.editItem(item)
        elif chosen is pin:
            self.pin_requested.emit(cid, not pinned)
        elif chosen in formats:
            self.export_requested.emit(cid, formats[chosen])
        elif chosen is delete:
            self.delete_requested.emit(cid)  # undo is offered, no confirmation needed
