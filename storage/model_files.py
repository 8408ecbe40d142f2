"""sha256 of model files, and a cache of them keyed by (path, size, mtime_ns).

Hashing a 12 GB GGUF takes a while, so the digest is remembered together
with the file's size and modification time; a changed file misses the cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .clock import utc_now

if TYPE_CHECKING:
    from .db import Store

CHUNK_SIZE = 8 * 1024 * 1024  # 8 MiB

ProgressFn = Callable[[int, int], None]  # (bytes_done, bytes_total)
CancelFn = Callable[[], bool]  # true = stop (e.g. threading.Event().is_set)


class HashCancelled(Exception):
    """sha256_file() stopped because ``cancel()`` returned true."""


def sha256_file(
    path: str | os.PathLike[str],
    chunk: int = CHUNK_SIZE,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> str:
    """Lowercase hex sha256 of the file, read ``chunk`` bytes at a time.

    ``progress(done, total)`` is called after every chunk (and once at 0);
    ``cancel()`` is checked before every chunk and raises HashCancelled when
    true.  Memory use is one chunk, whatever the file size.
    """
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    digest = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        total = os.fstat(f.fileno()).st_size
        done = 0
        if progress is not None:
            progress(0, total)
        while True:
            if cancel is not None and cancel():
                raise HashCancelled(f"hashing {os.fspath(path)!r} cancelled")
            n = f.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            done += n
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def _key(path: str | os.PathLike[str]) -> str:
    return str(Path(path).resolve())


class ModelFiles:
    """``store.model_files``: the sha256 cache."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def cached_sha256(self, path: str | os.PathLike[str]) -> str | None:
        """The remembered sha256 if the file still has the size and mtime it
        had when hashed; None if unknown, changed, or the file is missing."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        row = self._store.db.execute(
            "SELECT sha256 FROM model_files WHERE path = ? AND size = ? AND mtime_ns = ?",
            (_key(path), st.st_size, st.st_mtime_ns),
        ).fetchone()
        return row[0] if row else None

    def remember_sha256(
        self,
        path: str | os.PathLike[str],
        sha256: str,
        stat_result: os.stat_result | None = None,
    ) -> None:
        """Remember ``sha256`` for the file as it is now.

        Pass the ``os.stat()`` taken *before* hashing as ``stat_result`` so a
        file modified while it was being hashed is not cached as unchanged.
        """
        sha256 = sha256.lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a hex sha256 digest: {sha256!r}")
        st = stat_result if stat_result is not None else os.stat(path)
        with self._store.transaction():
            self._store.db.execute(
                "INSERT INTO model_files (path, size, mtime_ns, sha256, hashed_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET"
                " size = excluded.size, mtime_ns = excluded.mtime_ns,"
                " sha256 = excluded.sha256, hashed_at = excluded.hashed_at",
                (_key(path), st.st_size, st.st_mtime_ns, sha256, utc_now()),
            )

    def sha256(
        self,
        path: str | os.PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> str:
        """The file's sha256: from the cache when valid, else hashed and remembered.

        Slow for a big file that is not cached: call it off the GUI thread.
        """
        cached = self.cached_sha256(path)
        if cached is not None:
            return cached
        before = os.stat(path)
        digest = sha256_file(path, progress=progress, cancel=cancel)
        after = os.stat(path)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            self.remember_sha256(path, digest, before)
        return digest
