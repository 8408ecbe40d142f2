"""Documents: extract text from files, cut it into chunks, keep a library with an index.

Typical use, on a worker thread (every step may be slow)::

    from storage.documents import DocumentError, extract, check_size
    from storage import sha256_file

    size = check_size(path)                      # DocumentError if missing or too big
    digest = sha256_file(path)
    document = store.documents.find(digest)      # stored once per content
    if document is None:
        document = store.documents.add(extract(path), sha256=digest, name=path.name,
                                       size=size)
    store.documents.attach(user_message.id, [document.id])
    hits = store.documents.search_chunks([document.id], "what was the revenue?")

``app.documents.ingest`` does exactly this.  Nothing here imports Qt or ``inference``.
"""

from .chunk import Chunk, chunk, estimate_tokens
from .extract import MAX_FILE_BYTES, check_size, extract
from .query import question_expression
from .store import Document, DocumentChunk, Documents
from .units import KINDS, SECTION_SEPARATOR, DocumentError, Extracted, Location, Unit

__all__ = [
    "KINDS",
    "MAX_FILE_BYTES",
    "SECTION_SEPARATOR",
    "Chunk",
    "Document",
    "DocumentChunk",
    "DocumentError",
    "Documents",
    "Extracted",
    "Location",
    "Unit",
    "check_size",
    "chunk",
    "estimate_tokens",
    "extract",
    "question_expression",
]
