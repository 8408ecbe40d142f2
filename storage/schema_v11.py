"""Hearth's schema, continued from storage/schema.py: migrations 11 on (library folders, batch
runs). Same rules: append-only, add changes only at the end."""

from __future__ import annotations

from sqlite_utils import Database

from .migrations import execute_script, migration


@migration(11)
def library_folders(db: Database) -> None:
    # Folders the person chose are indexed where they are, never copied: one row per file
    # found, linked to the document its text was indexed as (stored once per content, as
    # attachments are, so a renamed or duplicated file is not read again).  Paths are BLOBs,
    # the file system's own bytes: a name need not be UTF-8.  A file that cannot be read is
    # 'skipped' with its reason and not tried again until its size or mtime changes.
    # document_chunks_cjk indexes Chinese and Japanese chunks by character pairs (see
    # storage/documents/cjk.py); unicode61 read a whole sentence of them as one word.
    execute_script(
        db,
        """
        CREATE TABLE library_folders (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- stable id, never reused
            path BLOB NOT NULL UNIQUE,            -- absolute, resolved: os.fsencode(path)
            name TEXT NOT NULL,                   -- shown and matched: the last component, made safe
            include TEXT NOT NULL DEFAULT '[]',   -- JSON list of globs; []: every type Hearth reads
            exclude TEXT NOT NULL DEFAULT '[]',   -- JSON list of globs matched against names and paths
            added_at TEXT NOT NULL,               -- UTC ISO-8601
            scanned_at TEXT                       -- last complete scan; NULL: never
        );

        CREATE TABLE library_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
            folder_id INTEGER NOT NULL            -- the library folder it was found in:
                REFERENCES library_folders (id) ON DELETE CASCADE, -- goes with it
            path BLOB NOT NULL,                   -- relative to the folder, os.fsencode'd
            size INTEGER NOT NULL,                -- st_size when last looked at
            mtime_ns INTEGER NOT NULL,            -- st_mtime_ns when last looked at
            sha256 TEXT,                          -- of its bytes when indexed; NULL: not yet
            document_id INTEGER                   -- what its text was indexed as; NULL: not yet
                REFERENCES documents (id) ON DELETE SET NULL,
            status TEXT NOT NULL,                 -- pending | indexed | skipped
            reason TEXT,                          -- why it was skipped; NULL otherwise
            updated_at TEXT NOT NULL,             -- UTC ISO-8601
            UNIQUE (folder_id, path)
        );
        CREATE INDEX library_files_by_document ON library_files (document_id);
        CREATE INDEX library_files_by_status ON library_files (status, folder_id);

        CREATE TABLE library_dropped (
            document_id INTEGER PRIMARY KEY       -- a document a library file no longer uses:
        );                                        -- deleted after a pass unless still in use

        CREATE VIRTUAL TABLE document_chunks_cjk USING fts5 (
            text,                                 -- the chunk's text, CJK runs as pairs
            tokenize = 'porter unicode61 remove_diacritics 2'
        );                                        -- rowid = document_chunks.id

        CREATE TRIGGER document_chunks_cjk_delete AFTER DELETE ON document_chunks BEGIN
            DELETE FROM document_chunks_cjk WHERE rowid = OLD.id;
        END;
        """,
    )
    from .documents import cjk

    found = [(i, cjk.segment(text)) for i, text in db.execute("SELECT id, text FROM document_chunks")
             if cjk.has_cjk(text)]
    db.conn.executemany("INSERT INTO document_chunks_cjk (rowid, text) VALUES (?, ?)", found)


@migration(12)
def batch_jobs(db: Database) -> None:
    # A batch run (app/core/batch*.py): one saved prompt over many documents. The job keeps a
    # copy of everything it was started with (the prompt's text, the values, the schema, the
    # settings), so it resumes after a quit or a kill exactly as it began, even if the saved
    # prompt has changed since. Each document is a row, written as it finishes.
    execute_script(
        db,
        """
        CREATE TABLE batch_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
            name TEXT NOT NULL,                   -- shown in the batch window's list
            spec TEXT NOT NULL,                   -- JSON: prompt text, values, schema, settings
            spec_sha256 TEXT NOT NULL,            -- of spec: the same batch started again
            out_path TEXT,                        -- `hearth batch --out`: resumes by this file
            status TEXT NOT NULL,                 -- ready|running|paused|cancelled|done
            created_at TEXT NOT NULL,             -- UTC ISO-8601
            updated_at TEXT NOT NULL
        );
        CREATE INDEX batch_jobs_by_out ON batch_jobs (out_path);

        CREATE TABLE batch_rows (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL REFERENCES batch_jobs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,                 -- the document's place in the job
            path TEXT NOT NULL,                   -- the document's file
            status TEXT NOT NULL DEFAULT 'pending', -- pending|running|done|failed
            answer TEXT NOT NULL DEFAULT '',      -- the answer's text (the JSON, with a schema)
            reasoning TEXT NOT NULL DEFAULT '',   -- gpt-oss's analysis channel
            columns TEXT NOT NULL DEFAULT '{}',   -- JSON object: the parsed, validated answer
            reason TEXT,                          -- why it failed; NULL when fine
            attempts INTEGER NOT NULL DEFAULT 0,  -- generations tried (retries for bad output)
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            generated_tokens INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,      -- taking a slot to the last token
            record TEXT NOT NULL DEFAULT '{}',    -- JSON: model sha256, sampling, seed, prompt hash
            updated_at TEXT NOT NULL,
            UNIQUE (job_id, seq)
        );
        CREATE INDEX batch_rows_by_status ON batch_rows (job_id, status);
        """,
    )
