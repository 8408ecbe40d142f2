"""Passages of library files (and of any other documents named) matching a query, best
first, each with the file it came from: what Ctrl+K, ``hearth search`` and the model's
documents tool show.  See :mod:`storage.documents.query` for how the text is read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..documents.query import Mode, parse, ranked
from ..documents.store import DocumentChunk
from ..search import ELLIPSIS, HIGHLIGHT_END, HIGHLIGHT_START
from .folders import LibraryFile, LibraryFolder

if TYPE_CHECKING:
    from ..db import Store

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class LibraryHit:
    chunk: DocumentChunk
    score: float  # BM25, higher is better
    document_name: str  # the document's stored name (its file name when first added)
    file: LibraryFile | None  # the library file holding it; None: a chat's attachment
    folder: LibraryFolder | None
    snippet: str  # about SNIPPET_CHARS of the passage, matches in HIGHLIGHT marks

    @property
    def text(self) -> str:
        """The passage without the lines it repeats from the one before."""
        return self.chunk.text[self.chunk.overlap:] if self.chunk.overlap else self.chunk.text

    @property
    def source(self) -> str:
        """Where it is, for people: "Notes/plans/q3.md", or the attachment's name."""
        if self.file is None or self.folder is None:
            return self.document_name
        return f"{self.folder.name}/{self.file.shown_path}"


def search_library(store: Store, query: str, *, mode: Mode = "all",
                   folder_ids: Iterable[int] | None = None, document_ids: Iterable[int] = (),
                   everything: bool = False, limit: int = 20) -> list[LibraryHit]:
    """Passages from the library's indexed files (only those of ``folder_ids`` if given)
    and from ``document_ids`` (a chat's attachments), or with ``everything`` from every
    stored document, best first.  ``mode``: "all" for what a person types, "any" for a
    question (see :mod:`storage.documents.query`).  Never raises on odd input."""
    parsed = parse(query, mode)
    folders = None if folder_ids is None else sorted(set(folder_ids))
    extra = sorted(set(document_ids))
    if everything:  # all but the documents of files just removed, not yet collected
        scope, params = ("c.document_id NOT IN (SELECT document_id FROM library_dropped)", {})
    else:
        scope, params = _scope(folders, extra)
    hits = ranked(store.db, parsed, scope, params, limit)
    chunks = store.documents.chunks_by_id(hits)
    if not chunks:
        return []
    by_document = _files_of(store, {c.document_id for c, _ in chunks}, folders)
    names = dict(store.db.execute(
        "SELECT id, name FROM documents WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({c.document_id for c, _ in chunks})),)).fetchall())
    folder_rows = {f.id: f for f in store.library.folders()}
    out = []
    for found, score in chunks:
        file = by_document.get(found.document_id)
        text = found.text[found.overlap:] if found.overlap else found.text
        out.append(LibraryHit(found, score, names.get(found.document_id, ""), file,
                              folder_rows.get(file.folder_id) if file else None,
                              snippet(text, parsed.highlight)))
    return out


def _scope(folders: list[int] | None, extra: list[int]) -> tuple[str, dict]:
    # EXISTS, not IN (SELECT …): an index lookup per match instead of building the set of
    # every indexed document (10,000 rows) on each search.
    library = ("EXISTS (SELECT 1 FROM library_files AS f WHERE f.document_id = c.document_id"
               " AND f.status = 'indexed'"
               + ("" if folders is None else
                  " AND f.folder_id IN (SELECT value FROM json_each(:folders))") + ")")
    params: dict = {"folders": json.dumps(folders or [])}
    if extra:
        params["extra"] = json.dumps(extra)
        return f"({library} OR c.document_id IN (SELECT value FROM json_each(:extra)))", params
    return library, params


def _files_of(store: Store, document_ids: set[int], folders: list[int] | None
              ) -> dict[int, LibraryFile]:
    """For each document, the first library file (in scope) whose text it is."""
    found: dict[int, LibraryFile] = {}
    for document_id in sorted(document_ids):
        for file in store.library.files_of_document(document_id):
            if file.status == "indexed" and (folders is None or file.folder_id in folders):
                found[document_id] = file
                break
    return found


def snippet(text: str, terms: Iterable[str], width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first place a term starts, each
    term's occurrences wrapped in the highlight marks, with … where text was cut.  Terms
    are matched as text (without case), so Chinese and Japanese words are found too."""
    text = " ".join(text.split())
    wanted = sorted({t for t in terms if t}, key=len, reverse=True)
    if not wanted:
        return text[:width] + (ELLIPSIS if len(text) > width else "")
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    first = pattern.search(text)
    start = 0 if first is None else max(0, first.start() - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    piece = pattern.sub(lambda m: HIGHLIGHT_START + m.group() + HIGHLIGHT_END, text[start:end])
    return (ELLIPSIS if start else "") + piece + (ELLIPSIS if end < len(text) else "")
