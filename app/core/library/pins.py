"""The folders a chat takes its sources from: pinned per chat, honoured by the documents
tool.  Kept in the settings table as ``library.chat:<conversation id>`` (a list of folder
ids); none pinned means the whole library."""

from __future__ import annotations

from storage import Store

PIN_PREFIX = "library.chat:"


def chat_folders(store: Store, conversation_id: int | None) -> list[int]:
    """The folder ids pinned for this chat that still exist; [] for the whole library."""
    if conversation_id is None:
        return []
    saved = store.settings.get(f"{PIN_PREFIX}{conversation_id}")
    if not isinstance(saved, list):
        return []
    existing = {f.id for f in store.library.folders()}
    return [i for i in saved if isinstance(i, int) and i in existing]


def set_chat_folders(store: Store, conversation_id: int, folder_ids: list[int]) -> None:
    """Pin these folders as the chat's sources ([]: the whole library again)."""
    key = f"{PIN_PREFIX}{conversation_id}"
    if folder_ids:
        store.settings.set(key, sorted({int(i) for i in folder_ids}))
    else:
        store.settings.delete(key)
