"""``store.documents``: the document library, its chunk index, and attachments to messages.

A document is stored once per content: adding a file whose sha256 is known returns the
existing row, so attaching the same report to ten chats costs one copy.  Attachments
link a document to the user message it came with; a conversation's documents are those
attached anywhere on the branch shown, so switching to a branch without the attachment
leaves its document out of the context too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from common.text import display_name

from ..clock import utc_now
from ..errors import stored_json
from ..tree import shown_branch_cte
from . import cjk
from .chunk import Chunk, chunk
from .query import parse, question_expression, ranked
from .units import KINDS, Extracted, Location

if TYPE_CHECKING:
    from ..db import Store

_DOCUMENT_COLUMNS = (
    "id, sha256, name, kind, title, size, pages, chars, approx_tokens, chunk_count, warnings,"
    " created_at"
)
_CHUNK_COLUMNS = "id, document_id, seq, text, location, approx_tokens, overlap"
__all__ = ["Document", "DocumentChunk", "Documents", "question_expression"]


@dataclass(frozen=True)
class Document:
    id: int
    sha256: str  # lowercase hex digest of the file's bytes
    name: str  # file name when first added
    kind: str  # one of storage.documents.KINDS
    title: str | None
    size: int  # bytes
    pages: int | None  # PDF page count; None for other kinds
    chars: int  # characters of extracted text
    approx_tokens: int  # chars / 4: a size to show before the model's tokenizer counts
    chunk_count: int
    warnings: tuple[str, ...]  # what extraction left out, for the user
    created_at: str  # UTC ISO-8601


@dataclass(frozen=True)
class DocumentChunk:
    id: int
    document_id: int
    seq: int  # 0-based position in the document
    text: str
    location: Location
    approx_tokens: int
    overlap: int  # leading chars of text repeating the previous chunk (see chunk.Chunk)


def _document(row: dict[str, Any]) -> Document:
    return Document(**{**row, "warnings": tuple(stored_json(row["warnings"], [], list))})


def _chunk(row: dict[str, Any]) -> DocumentChunk:
    return DocumentChunk(**{**row, "location": Location.from_dict(stored_json(row["location"], {}, dict))})


class Documents:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, extracted: Extracted, *, sha256: str, name: str, size: int,
            chunks: Sequence[Chunk] | None = None) -> Document:
        """Store an extracted file and its chunks (default: ``chunk(extracted)``), or
        return the document already stored with this ``sha256`` (then nothing changes,
        not even its name). ``name`` is stored as :func:`common.text.display_name` makes
        it: valid text without control characters, whatever bytes the file name held."""
        name = display_name(name)
        sha256 = sha256.lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a hex sha256 digest: {sha256!r}")
        if extracted.kind not in KINDS:
            raise ValueError(f"unknown document kind {extracted.kind!r}")
        chunks = chunk(extracted) if chunks is None else chunks
        db = self._store.db
        with self._store.transaction():
            existing = self.find(sha256)
            if existing is not None:
                return existing
            cursor = db.execute(
                "INSERT INTO documents (sha256, name, kind, title, size, pages, chars,"
                " approx_tokens, chunk_count, warnings, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sha256, name, extracted.kind, extracted.title, size, extracted.pages,
                 extracted.chars, sum(c.approx_tokens for c in chunks), len(chunks),
                 json.dumps(list(extracted.warnings), ensure_ascii=False), utc_now()),
            )
            document_id = cast(int, cursor.lastrowid)
            db.conn.executemany(
                "INSERT INTO document_chunks (document_id, seq, text, location, approx_tokens,"
                " overlap) VALUES (?, ?, ?, ?, ?, ?)",
                ((document_id, c.seq, c.text, json.dumps(c.location.as_dict(), ensure_ascii=False),
                  c.approx_tokens, c.overlap) for c in chunks),
            )
            _index_cjk(db, document_id)
            return cast(Document, self.get(document_id))

    def get(self, document_id: int) -> Document | None:
        rows = list(self._store.db.query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE id = ?", (document_id,)))
        return _document(rows[0]) if rows else None

    def find(self, sha256: str) -> Document | None:
        """The document with this content, if stored: check before extracting a file."""
        rows = list(self._store.db.query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE sha256 = ?", (sha256.lower(),)))
        return _document(rows[0]) if rows else None

    def list(self) -> list[Document]:
        """The library, newest first."""
        rows = self._store.db.query(
            f"SELECT {_DOCUMENT_COLUMNS} FROM documents ORDER BY created_at DESC, id DESC")
        return [_document(row) for row in rows]

    def delete(self, document_id: int) -> None:
        """Remove a document with its chunks and every attachment of it.  KeyError if
        unknown."""
        with self._store.transaction():
            cursor = self._store.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))
            if cursor.rowcount == 0:
                raise KeyError(f"no document with id {document_id}")

    def chunks(self, document_id: int) -> list[DocumentChunk]:
        """All chunks of the document, in document order."""
        rows = self._store.db.query(
            f"SELECT {_CHUNK_COLUMNS} FROM document_chunks WHERE document_id = ? ORDER BY seq",
            (document_id,))
        return [_chunk(row) for row in rows]

    def search_chunks(self, document_ids: Iterable[int], query: str,
                      limit: int = 50) -> list[tuple[DocumentChunk, float]]:
        """Chunks of these documents matching any distinctive word of ``query`` (see
        :mod:`storage.documents.query`; Chinese and Japanese words too), best first, with
        their BM25 score (higher is better; comparable across documents).  Never raises on
        odd input."""
        ids = sorted(set(document_ids))
        if not ids:
            return []
        hits = ranked(self._store.db, parse(query, "any"),
                      "c.document_id IN (SELECT value FROM json_each(:ids))",
                      {"ids": json.dumps(ids)}, limit)
        return self.chunks_by_id(hits)

    def chunks_by_id(self, hits: Sequence[tuple[int, float]]
                     ) -> list[tuple[DocumentChunk, float]]:
        """The chunks of (chunk id, score) pairs, in the same order; ids no longer stored
        are left out."""
        if not hits:
            return []
        rows = self._store.db.query(
            f"SELECT {_CHUNK_COLUMNS} FROM document_chunks"
            " WHERE id IN (SELECT value FROM json_each(?))", (json.dumps([i for i, _ in hits]),))
        by_id = {row["id"]: _chunk(row) for row in rows}
        return [(by_id[i], float(score)) for i, score in hits if i in by_id]

    def attach(self, message_id: int, document_ids: Iterable[int]) -> None:
        """Link documents to a (user) message, after any it already has; attaching one
        twice is a no-op.  Call inside the transaction that adds the message, so both
        land together.  sqlite3.IntegrityError for an unknown message or document."""
        db = self._store.db
        with self._store.transaction():
            position = db.execute(
                "SELECT COUNT(*) FROM message_documents WHERE message_id = ?", (message_id,)
            ).fetchone()[0]
            for document_id in dict.fromkeys(document_ids):
                cursor = db.execute(
                    "INSERT OR IGNORE INTO message_documents (message_id, document_id, position)"
                    " VALUES (?, ?, ?)", (message_id, document_id, position))
                position += cursor.rowcount

    def for_message(self, message_id: int) -> list[Document]:
        """The documents attached to this message, in attachment order."""
        rows = self._store.db.query(
            f"SELECT {', '.join('d.' + c for c in _DOCUMENT_COLUMNS.split(', '))}"
            " FROM message_documents AS md JOIN documents AS d ON d.id = md.document_id"
            " WHERE md.message_id = ? ORDER BY md.position", (message_id,))
        return [_document(row) for row in rows]

    def for_conversation(self, conversation_id: int) -> list[Document]:
        """The documents attached anywhere on the conversation's branch shown (deleted
        messages' attachments left out), each once, in the order first attached."""
        rows = self._store.db.query(
            f"""{shown_branch_cte()}
            SELECT {', '.join('d.' + c for c in _DOCUMENT_COLUMNS.split(', '))}
            FROM message_documents AS md
            JOIN messages AS m ON m.id = md.message_id AND m.deleted_at IS NULL
            JOIN documents AS d ON d.id = md.document_id
            WHERE md.message_id IN (SELECT id FROM branch)
            ORDER BY md.message_id, md.position
            """,
            {"conversation": conversation_id},
        )
        seen: dict[int, Document] = {}
        for row in rows:
            seen.setdefault(row["id"], _document(row))
        return list(seen.values())


def _index_cjk(db, document_id: int) -> None:
    """Give the document's chunks holding Chinese or Japanese text their entry in the pair
    index (see :mod:`storage.documents.cjk`); most documents have none."""
    rows = db.execute("SELECT id, text FROM document_chunks WHERE document_id = ?",
                      (document_id,)).fetchall()
    db.conn.executemany("INSERT INTO document_chunks_cjk (rowid, text) VALUES (?, ?)",
                        ((i, cjk.segment(text)) for i, text in rows if cjk.has_cjk(text)))
