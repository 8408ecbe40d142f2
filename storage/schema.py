"""Hearth's schema, as its append-only list of migrations.

Read top to bottom for the current schema, then schema_v11.py; add changes only at the end
of that file.
Timestamps are UTC ISO-8601 text (see :mod:`storage.clock`).  Enumerated
values (role, status, effort) are validated in Python, not with CHECK
constraints, so a new value never forces a table rebuild.
"""

from __future__ import annotations

from sqlite_utils import Database

from .migrations import execute_script, migration


@migration(1)
def conversations_and_messages(db: Database) -> None:
    execute_script(
        db,
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- stable id, never reused
            title TEXT NOT NULL,                  -- shown in the sidebar
            created_at TEXT NOT NULL,             -- UTC ISO-8601
            updated_at TEXT NOT NULL              -- last message activity; sidebar order
        );
        CREATE INDEX conversations_recent ON conversations (updated_at DESC, id DESC);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused; also the chat order
            conversation_id INTEGER NOT NULL      -- owning chat; deleting it deletes this row:
                REFERENCES conversations (id) ON DELETE CASCADE, -- foreign key, cascading
            role TEXT NOT NULL,                   -- system | user | assistant | tool
            content TEXT NOT NULL DEFAULT '',     -- prompt / answer text (markdown)
            reasoning TEXT NOT NULL DEFAULT '',   -- reasoning channel text; '' if none
            status TEXT NOT NULL DEFAULT 'complete', -- streaming|complete|cancelled|failed
            effort TEXT,                          -- low | medium | high; NULL if not applicable
            model_name TEXT,                      -- model that wrote it; NULL for user turns
            model_sha256 TEXT,                    -- sha256 of that model file (exact weights)
            stats TEXT NOT NULL DEFAULT '{}',     -- JSON: tokens, ttft, tokens/s, finish reason…
            error TEXT,                           -- why it failed; NULL when fine
            created_at TEXT NOT NULL,             -- UTC ISO-8601
            updated_at TEXT NOT NULL              -- UTC ISO-8601, bumped on every update
        );
        CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
        """,
    )


@migration(2)
def message_search(db: Database) -> None:
    # The index covers the messages visible through messages_searchable: all
    # but 'streaming' ones, so the per-token updates of an answer being
    # written never touch the index; it is indexed once it completes, fails
    # or is cancelled.  Using the view as FTS5 external content keeps FTS5's
    # own 'rebuild' and 'integrity-check' commands correct.
    execute_script(
        db,
        """
        CREATE VIEW messages_searchable AS
            SELECT id, content, reasoning FROM messages WHERE status != 'streaming';

        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            content,                              -- messages.content
            reasoning,                            -- messages.reasoning
            content = 'messages_searchable',      -- external content: text is not duplicated
            content_rowid = 'id',                 -- fts rowid = messages.id
            tokenize = 'unicode61 remove_diacritics 2'
        );

        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN NEW.status != 'streaming' BEGIN
            INSERT INTO messages_fts (rowid, content, reasoning)
            VALUES (NEW.id, NEW.content, NEW.reasoning);
        END;

        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN OLD.status != 'streaming' BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
            VALUES ('delete', OLD.id, OLD.content, OLD.reasoning);
        END;

        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content, reasoning, status ON messages
        BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content, reasoning)
            SELECT 'delete', OLD.id, OLD.content, OLD.reasoning WHERE OLD.status != 'streaming';
            INSERT INTO messages_fts (rowid, content, reasoning)
            SELECT NEW.id, NEW.content, NEW.reasoning WHERE NEW.status != 'streaming';
        END;

        INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
        """,
    )


@migration(3)
def settings(db: Database) -> None:
    execute_script(
        db,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,                 -- e.g. 'last_model_path'
            value TEXT NOT NULL,                  -- JSON-encoded value
            updated_at TEXT NOT NULL              -- UTC ISO-8601
        );
        """,
    )


@migration(4)
def model_files(db: Database) -> None:
    execute_script(
        db,
        """
        CREATE TABLE model_files (
            path TEXT PRIMARY KEY,                -- absolute, resolved path of the model file
            size INTEGER NOT NULL,                -- st_size when hashed
            mtime_ns INTEGER NOT NULL,            -- st_mtime_ns when hashed
            sha256 TEXT NOT NULL,                 -- lowercase hex digest of the whole file
            hashed_at TEXT NOT NULL               -- UTC ISO-8601
        );
        """,
    )


# Migrations 5 and on add columns with ALTER TABLE ADD COLUMN, because rebuilding
# conversations would cascade-delete every message.  SQLite splices each added column's
# text, up to the end of the statement, just before the table's closing parenthesis,
# so a trailing "--" comment would swallow it: added columns carry /* */ comments.


@migration(5)
def message_branches(db: Database) -> None:
    # A conversation is a tree: regenerating an answer or editing a prompt adds a
    # sibling instead of overwriting, and current_leaf_id picks the branch shown.
    # Parents always have smaller ids than their children (a parent exists first),
    # so ORDER BY id walks a branch root to leaf.  The backfill turns each existing
    # conversation into the single branch it was.
    execute_script(
        db,
        """
        ALTER TABLE messages ADD COLUMN parent_id INTEGER
            REFERENCES messages (id) ON DELETE CASCADE /* message this one follows; NULL: a root */;
        CREATE INDEX messages_by_parent ON messages (parent_id, id);
        UPDATE messages SET parent_id = (
            SELECT MAX(previous.id) FROM messages AS previous
            WHERE previous.conversation_id = messages.conversation_id
              AND previous.id < messages.id
        );

        ALTER TABLE conversations ADD COLUMN
            current_leaf_id INTEGER /* last message of the branch shown; NULL: no messages */;
        UPDATE conversations SET current_leaf_id = (
            SELECT MAX(id) FROM messages WHERE messages.conversation_id = conversations.id
        );
        """,
    )


@migration(6)
def trash_and_pins(db: Database) -> None:
    # Deleting is soft first, so it can be undone; purge_* removes old deleted rows.
    # A deleted message's descendants are always deleted with it.  The sidebar
    # index replaces conversations_recent: the sidebar lists pinned chats first
    # and never the trashed ones.
    execute_script(
        db,
        """
        ALTER TABLE messages ADD COLUMN
            deleted_at TEXT /* UTC ISO-8601 when soft-deleted; NULL: visible */;

        ALTER TABLE conversations ADD COLUMN
            pinned INTEGER NOT NULL DEFAULT 0 /* 1: listed first in the sidebar */;
        ALTER TABLE conversations ADD COLUMN
            deleted_at TEXT /* UTC ISO-8601 when moved to the trash; NULL: not trashed */;

        DROP INDEX conversations_recent;
        CREATE INDEX conversations_sidebar
            ON conversations (pinned DESC, updated_at DESC, id DESC) WHERE deleted_at IS NULL;
        """,
    )


@migration(7)
def prompt_library(db: Database) -> None:
    # Saved prompts: presets (a conversation's developer instructions, with their own
    # defaults) and quick prompts (text for the composer). Every save keeps the earlier
    # text as a version, so an edit can be undone later.
    execute_script(
        db,
        """
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- stable id
            name TEXT NOT NULL UNIQUE COLLATE NOCASE, -- what the palette and the CLI match
            kind TEXT NOT NULL,                   -- preset | quick
            body TEXT NOT NULL,                   -- the text, with {{variables}}
            tags TEXT NOT NULL DEFAULT '[]',      -- JSON list of strings
            favourite INTEGER NOT NULL DEFAULT 0, -- 1: listed first
            effort TEXT,                          -- preset default: low | medium | high; NULL: none
            temperature REAL,                     -- preset default; NULL: the model's
            n_ctx INTEGER,                        -- preset's wished context size; NULL: the model's
            created_at TEXT NOT NULL,             -- UTC ISO-8601
            updated_at TEXT NOT NULL              -- UTC ISO-8601, each save
        );

        CREATE TABLE prompt_versions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- stable id
            prompt_id INTEGER NOT NULL            -- the prompt this was an earlier state of
                REFERENCES prompts (id) ON DELETE CASCADE,
            snapshot TEXT NOT NULL,               -- JSON of the prompt's fields before a save
            created_at TEXT NOT NULL              -- UTC ISO-8601: when it was replaced
        );
        CREATE INDEX prompt_versions_by_prompt ON prompt_versions (prompt_id, id);

        ALTER TABLE conversations ADD COLUMN preset_id INTEGER
            REFERENCES prompts (id) ON DELETE SET NULL /* the preset in use; NULL: none */;
        """,
    )


@migration(8)
def document_library(db: Database) -> None:
    # Documents are stored once per content (sha256), whatever their name, and shared by
    # every message that attaches them.  Chunks are written once and never updated; the
    # FTS5 index over them (porter stemming, so "revenues" finds "revenue") ranks passages
    # for a question with BM25.  Deleting a document deletes its chunks and links.
    execute_script(
        db,
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- stable id, never reused
            sha256 TEXT NOT NULL UNIQUE,          -- of the file's bytes: identical files stored once
            name TEXT NOT NULL,                   -- file name when first added, e.g. 'report.pdf'
            kind TEXT NOT NULL,                   -- pdf | docx | html | markdown | text | code | csv
            title TEXT,                           -- from metadata or the first heading; NULL: none
            size INTEGER NOT NULL,                -- file size in bytes
            pages INTEGER,                        -- PDF page count; NULL for other kinds
            chars INTEGER NOT NULL,               -- characters of extracted text
            approx_tokens INTEGER NOT NULL,       -- sum of the chunks' estimates (chars / 4)
            chunk_count INTEGER NOT NULL,         -- rows in document_chunks
            warnings TEXT NOT NULL DEFAULT '[]',  -- JSON list: what extraction left out, for the user
            created_at TEXT NOT NULL              -- UTC ISO-8601
        );

        CREATE TABLE document_chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- also the FTS rowid
            document_id INTEGER NOT NULL          -- the document it was cut from:
                REFERENCES documents (id) ON DELETE CASCADE, -- goes with it
            seq INTEGER NOT NULL,                 -- 0-based position in the document
            text TEXT NOT NULL,                   -- the passage as shown to the model
            location TEXT NOT NULL,               -- JSON: {"page": 4} | {"section": "A › B"} | {"lines": [1, 40]} | {"rows": [2, 41]}
            approx_tokens INTEGER NOT NULL,       -- chars / 4, rounded up
            overlap INTEGER NOT NULL DEFAULT 0,   -- leading chars repeating the previous chunk
            UNIQUE (document_id, seq)
        );

        CREATE VIRTUAL TABLE document_chunks_fts USING fts5 (
            text,                                 -- document_chunks.text
            content = 'document_chunks',          -- external content: text is not duplicated
            content_rowid = 'id',                 -- fts rowid = document_chunks.id
            tokenize = 'porter unicode61 remove_diacritics 2'
        );

        CREATE TRIGGER document_chunks_fts_insert AFTER INSERT ON document_chunks BEGIN
            INSERT INTO document_chunks_fts (rowid, text) VALUES (NEW.id, NEW.text);
        END;

        CREATE TRIGGER document_chunks_fts_delete AFTER DELETE ON document_chunks BEGIN
            INSERT INTO document_chunks_fts (document_chunks_fts, rowid, text)
            VALUES ('delete', OLD.id, OLD.text);
        END;

        CREATE TABLE message_documents (
            message_id INTEGER NOT NULL           -- the user message the file was attached to:
                REFERENCES messages (id) ON DELETE CASCADE, -- goes with it
            document_id INTEGER NOT NULL          -- the attached document:
                REFERENCES documents (id) ON DELETE CASCADE, -- goes with it
            position INTEGER NOT NULL,            -- order of attachment within the message
            PRIMARY KEY (message_id, document_id)
        ) WITHOUT ROWID;
        CREATE INDEX message_documents_by_document ON message_documents (document_id);
        """,
    )


@migration(9)
def streaming_index(db: Database) -> None:
    # Start-up recovery (Messages.mark_interrupted) looks for answers left 'streaming': without
    # an index that scanned every message, 0.4-1 s at each start with 1,000,000 of them.  The
    # partial index holds only the few rows streaming right now.
    execute_script(
        db,
        """
        CREATE INDEX messages_streaming ON messages (id) WHERE status = 'streaming';
        """,
    )


@migration(10)
def tool_calls(db: Database) -> None:
    # A gpt-oss answer can call tools several times before it answers: each call and its
    # result belong to the answer, in order, written as the turn goes, so a crash mid-loop
    # loses nothing and "Re-run exactly" can replay the stored results.
    execute_script(
        db,
        """
        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
            message_id INTEGER NOT NULL           -- the answer that made the call:
                REFERENCES messages (id) ON DELETE CASCADE, -- goes with it
            seq INTEGER NOT NULL,                 -- 0-based order within the answer
            recipient TEXT NOT NULL,              -- functions.NAME | python | browser.search …
            arguments TEXT NOT NULL,              -- exactly as the model wrote them
            channel TEXT NOT NULL,                -- harmony channel: commentary | analysis
            content_type TEXT NOT NULL DEFAULT '', -- json | code | '' (the header's)
            constrained INTEGER NOT NULL DEFAULT 0, -- written with <|constrain|>
            call_id TEXT NOT NULL,                -- pairs the call with its result
            reasoning TEXT NOT NULL DEFAULT '',   -- the model's reasoning just before the call
            preamble TEXT NOT NULL DEFAULT '',    -- commentary text beside the call, for the user
            status TEXT NOT NULL,                 -- pending|running|done|error|denied|cancelled|replayed
            result TEXT,                          -- what the model read back (cut to the limit)
            error TEXT,                           -- why it failed; the model read it as the result
            pages TEXT NOT NULL DEFAULT '[]',     -- JSON list: addresses the tool opened
            started_at TEXT,                      -- UTC ISO-8601
            duration_s REAL,                      -- seconds the tool ran (approval wait excluded)
            UNIQUE (message_id, seq)
        );
        """,
    )


# Migrations 11 on (library folders, batch runs) continue in schema_v11.py; new ones go there.
from . import schema_v11  # noqa: E402, F401  (registers them)
