"""What the person was writing, kept per chat: switching chats, or quitting, never loses it.

Drafts live in the settings table ("draft:<chat id>", "draft:new" for a chat not started
yet), written when the chat changes, a second after typing stops, and at quit.
"""

from __future__ import annotations

from app.gui.qt import QObject, QTimer
from storage import Store

PREFIX = "draft:"
SAVE_AFTER_MS = 1000


def _key(conversation_id: int | None) -> str:
    return f"{PREFIX}{conversation_id or 'new'}"


class Drafts(QObject):
    def __init__(self, store: Store, composer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store, self.composer = store, composer
        self.current: int | None = None
        self._loaded = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SAVE_AFTER_MS)
        self._timer.timeout.connect(self.save)
        composer.edit.textChanged.connect(self._timer.start)

    def switch(self, conversation_id: int | None) -> None:
        """The window now shows `conversation_id`: keep the old chat's draft, show the new one's."""
        if self._loaded and conversation_id == self.current:
            return
        if self._loaded:
            self.save()
        self.current, self._loaded = conversation_id, True
        self._timer.stop()
        text = self.store.settings.get(_key(conversation_id)) or ""
        self.composer.set_draft(text if isinstance(text, str) else "")
        self._timer.stop()  # showing the draft is not typing one

    def save(self) -> None:
        self._timer.stop()
        if not self._loaded or self.composer.editing:  # an edit's text is not a draft
            return
        text = self.composer.edit.toPlainText()
        if text.strip():
            self.store.settings.set(_key(self.current), text)
        else:
            self.store.settings.delete(_key(self.current))

    def forget(self, conversation_id: int | None) -> None:
        self.store.settings.delete(_key(conversation_id))
