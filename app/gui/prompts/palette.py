"""The composer's / palette: saved prompts filtered as you type; Enter picks one."""

from __future__ import annotations

from app.gui.qt import Qt, QtCore, QtWidgets, Signal
from storage import Store
from storage.prompts import Prompt

PROMPT_ROLE = Qt.ItemDataRole.UserRole


class PromptPalette(QtWidgets.QFrame):
    chosen = Signal(object)  # Prompt

    def __init__(self, store: Store, parent=None) -> None:
        # A tool tip window, not a popup: it takes no focus, so typing stays in the composer.
        super().__init__(parent, Qt.WindowType.ToolTip)
        self.setObjectName("promptPalette")
        self.store = store
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("paletteList")
        self.hint = QtWidgets.QLabel("Enter inserts a quick prompt or applies a preset · Esc closes")
        self.hint.setObjectName("facts")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        self.list.itemActivated.connect(self._pick)
        self.setMinimumWidth(420)

    def show_for(self, text: str, anchor: QtWidgets.QWidget) -> None:
        self.filter(text)
        self.move(anchor.mapToGlobal(QtCore.QPoint(0, -self.sizeHint().height() - 4)))
        self.show()

    def filter(self, text: str) -> list[Prompt]:
        query = text.lstrip("/").strip()
        prompts = self.store.prompts.search(query) if query else self.store.prompts.list()
        self.list.clear()
        for p in prompts:
            kind = "preset" if p.kind == "preset" else "quick prompt"
            item = QtWidgets.QListWidgetItem(f"{'★ ' if p.favourite else ''}{p.name}  ·  {kind}")
            item.setData(PROMPT_ROLE, p.id)
            item.setToolTip(p.body[:400])
            self.list.addItem(item)
        if prompts:
            self.list.setCurrentRow(0)
        rows = max(1, min(len(prompts), 8))  # as tall as its rows, up to eight
        self.list.setFixedHeight(rows * max(self.list.sizeHintForRow(0), 18) + 6)
        self.adjustSize()
        return prompts

    def pick_current(self) -> None:
        if self.list.currentItem() is not None:
            self._pick(self.list.currentItem())

    def _pick(self, item) -> None:
        prompt = self.store.prompts.get(item.data(PROMPT_ROLE))
        self.hide()
        if prompt is not None:
            self.chosen.emit(prompt)

    def move_selection(self, step: int) -> None:
        row = max(0, min(self.list.count() - 1, self.list.currentRow() + step))
        self.list.setCurrentRow(row)
