"""The batch window: a saved prompt over many documents, into a table (app/core/batch*.py)."""

from __future__ import annotations


def show(win) -> None:
    """Prompts → Batch run…: one window per main window, raised if already open."""
    from .window import BatchWindow

    existing = getattr(win, "batch_window", None)
    if existing is None:
        def open_chat(conversation_id: int) -> None:
            win.show_chat()
            win.controller.open_conversation(conversation_id)
            win.refresh_conversations()

        existing = win.batch_window = BatchWindow(win.store, win.session, open_chat, win)
    existing.show()
    existing.raise_()
    existing.activateWindow()
