"""Library folders: files indexed where they are, kept in step with the disk, searchable.

Typical use, off the GUI thread (``app.core.library`` runs this in the background and
follows changes with a file watcher)::

    from storage.library import scan, pending, index_file, collect_dropped, search_library

    folder = store.library.add_folder("~/Documents/Notes")  # LibraryError if not a folder
    scan(store, folder)                                      # stat only: new/changed → pending
    for file in pending(store, 100):                         # hash; extract only new content
        index_file(store, store.library.folder(file.folder_id), file)
    collect_dropped(store)                                   # documents no file uses any more
    hits = search_library(store, '"quarterly budget" rev')  # phrases, prefixes, CJK words
    store.library.counts()                                   # {'indexed': …, 'skipped': …, 'pending': …}

Nothing here imports Qt, ``app`` or ``inference``.
"""

from .folders import STATUSES, Library, LibraryError, LibraryFile, LibraryFolder
from .search import LibraryHit, search_library, snippet
from .sync import ScanResult, collect_dropped, index_file, pending, remove_files, scan
from .walk import DEFAULT_EXCLUDE, MAX_FILE_BYTES, Entry, walk

__all__ = [
    "DEFAULT_EXCLUDE",
    "MAX_FILE_BYTES",
    "STATUSES",
    "Entry",
    "Library",
    "LibraryError",
    "LibraryFile",
    "LibraryFolder",
    "LibraryHit",
    "ScanResult",
    "collect_dropped",
    "index_file",
    "pending",
    "remove_files",
    "scan",
    "search_library",
    "snippet",
    "walk",
]
