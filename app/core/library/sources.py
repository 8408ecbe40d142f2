"""Where a passage came from, to show it and open its file: for a citation [n] of an answer
(from the document plan or the documents tool) and for a search hit."""

from __future__ import annotations

import os
from dataclasses import dataclass

from inference.documents_plan import citation_label
from storage import Store
from storage.documents.query import parse
from storage.library import LibraryHit


@dataclass(frozen=True)
class Source:
    label: str  # "Notes/plans/q3.md, p. 4"
    text: str  # the passage
    path: str | None  # the file to open in its own app; None: an attachment, or gone
    page: int | None  # PDF page, 1-based
    location: dict  # {"page": 4} | {"section": …} | {"lines": [a, b]} | {"rows": [a, b]}
    terms: tuple[str, ...] = ()  # the words searched for, lower case: shown marked


    @property
    def exists(self) -> bool:
        return self.path is not None and os.path.exists(self.path)


def file_path(store: Store, document_id: int, file_id: int | None = None) -> str | None:
    """The library file a document's passage is in: the one cited if it still holds that
    document, else any other that does; None if no library file does."""
    chosen = store.library.file(file_id) if file_id is not None else None
    if chosen is None or chosen.document_id != document_id:
        files = [f for f in store.library.files_of_document(document_id) if f.status == "indexed"]
        chosen = files[0] if files else None
    if chosen is None:
        return None
    folder = store.library.folder(chosen.folder_id)
    return os.path.join(folder.path, chosen.path) if folder else None


def search_terms(query: str, mode: str = "all") -> tuple[str, ...]:
    """The words a search for ``query`` matches (each also as a word's beginning)."""
    return parse(query or "", mode).highlight


def of_hit(store: Store, hit: LibraryHit, query: str = "") -> Source:
    location = hit.chunk.location.as_dict()
    path = None
    if hit.file is not None and hit.folder is not None:
        path = os.path.join(hit.folder.path, hit.file.path)
    return Source(citation_label(hit.source, location), hit.text, path, location.get("page"),
                  location, search_terms(query))


def of_citation(store: Store, answer_id: int, key: int) -> Source | None:
    """Citation [key] of an answer, from the passages saved with it; None if it has none."""
    from app.core.provenance import Provenance

    answer = store.messages.get(answer_id)
    made = Provenance.from_json(answer.stats) if answer else Provenance()
    citable = list((made.documents or {}).get("passages", [])) + list(made.citations)
    found = next((p for p in citable if p.get("key") == key and "document_id" in p), None)
    if found is None:
        return None
    chunks = {c.id: c for c in store.documents.chunks(found["document_id"])}
    parts = [chunks[i] for i in found.get("chunk_ids", []) if i in chunks]
    text = "".join(c.text[c.overlap if n else 0:] for n, c in enumerate(parts))
    location = parts[0].location.as_dict() if parts else dict(found.get("location") or {})
    return Source(found.get("label", ""), text,
                  file_path(store, found["document_id"], found.get("file_id")),
                  location.get("page"), location, search_terms(found.get("query", ""), "any"))
