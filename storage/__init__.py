"""Hearth's persistence: one SQLite file (WAL) holding chats, settings and model hashes.

Typical use::

    from storage import Store, open_store

    store, report = open_store()                 # once at start ($HEARTH_DATA_DIR/hearth.db or the
    if report.notice:                            # user data dir): checked, set aside if damaged,
        show(report.notice)                      # read-only if it must be, cut-off answers marked
    chat = store.conversations.create()
    user, answer = store.messages.add_turn(chat.id, "Hi", effort="low")
    store.messages.update(answer.id, content="Hello!", status="complete")
    retry = store.messages.add_reply(user.id, effort="high")  # regenerate: a sibling
    shown = store.messages.thread(chat.id)       # [user, retry]; answer is its sibling
    hits = store.search("hello")
    with Store() as other:                       # another thread opens its own connection
        ...

Disk trouble surfaces as a ``StorageError`` (damaged, read-only, full, I/O): see
:mod:`storage.errors`; backups before each migration and daily: :mod:`storage.backups`.
This package never imports Qt, ``app`` or ``inference``.
"""

from .backups import Backup, daily_backup, list_backups
from .clock import utc_now
from .conversations import DEFAULT_TITLE, Conversation, Conversations
from .db import (DATA_DIR_ENV, DATABASE_FILENAME, Store, database_path, default_data_dir,
                 move_data_dir)
from .errors import (DatabaseDamagedError, StorageError, StorageFullError, StorageIOError,
                     StorageReadOnlyError)
from .messages import CURRENT_LEAF, INTERRUPTED_ERROR, ROLES, STATUSES, Message, Messages
from .migrations import SchemaTooNewError, apply_migrations, latest_version, schema_version
from .model_files import HashCancelled, ModelFiles, sha256_file
from .search import HIGHLIGHT_END, HIGHLIGHT_START, SearchHit, match_expression
from .settings import Settings
from .startup import StartupReport, open_store, restore_backup

__all__ = [
    "Backup",
    "DatabaseDamagedError",
    "StartupReport",
    "StorageError",
    "StorageFullError",
    "StorageIOError",
    "StorageReadOnlyError",
    "daily_backup",
    "list_backups",
    "open_store",
    "restore_backup",
    "CURRENT_LEAF",
    "DATA_DIR_ENV",
    "DATABASE_FILENAME",
    "DEFAULT_TITLE",
    "HIGHLIGHT_END",
    "HIGHLIGHT_START",
    "INTERRUPTED_ERROR",
    "ROLES",
    "STATUSES",
    "Conversation",
    "Conversations",
    "HashCancelled",
    "Message",
    "Messages",
    "ModelFiles",
    "SchemaTooNewError",
    "SearchHit",
    "Settings",
    "Store",
    "apply_migrations",
    "database_path",
    "default_data_dir",
    "move_data_dir",
    "latest_version",
    "match_expression",
    "schema_version",
    "sha256_file",
    "utc_now",
]
