"""Walking a library folder: which files it holds, and which of them cannot be read and why.

Only ``stat`` is used here, never ``open``, so a pipe, a device or a file on a stalled disk
cannot block the walk.  Symbolic links are followed (a person links folders on purpose),
each folder is entered once by its (device, inode), so a link that loops back, or a second
way to a folder already walked, is reported instead of walked again.  What cannot be
indexed is yielded with its reason, so it is listed once rather than tried on every scan.

Paths are ``str`` as ``os.fsdecode`` makes them (bytes that are not UTF-8 kept as
surrogate escapes, so the file can still be opened); store them with ``os.fsencode`` and
show them with :func:`common.text.display_path`.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from common.units import format_bytes

from ..documents.extract import CODE_FILE_NAMES, EXTENSIONS

# Left out unless the person says otherwise: hidden files and folders, dependencies, build
# outputs and caches — thousands of files nobody asks questions about.
DEFAULT_EXCLUDE = (".*", "node_modules", "__pycache__", "build", "dist", "target", "venv",
                   "site-packages", "bower_components", "*.egg-info", "*.min.js", "*.min.css",
                   "*.map", "package-lock.json", "*.lock")
MAX_FILE_BYTES = 50_000_000  # a library file larger than this is listed as skipped
MAX_DEPTH = 64  # folders nested deeper are listed as skipped, not walked
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """A file found (or a folder that could not be walked) under a library folder."""

    rel: str  # relative to the library folder, '/'-separated
    size: int
    mtime_ns: int
    skip: str | None = None  # why it cannot be indexed; None: index it


def wanted(rel: str, include: Sequence[str]) -> bool:
    """Whether a file is one to index: matching an include pattern, or with none given,
    of a type Hearth reads (PDF, Word, HTML, Markdown, text, code, CSV)."""
    name = rel.rsplit("/", 1)[-1]
    if include:
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in include)
    return os.path.splitext(name)[1].lower() in EXTENSIONS or name.lower() in CODE_FILE_NAMES


def excluded(rel: str, exclude: Sequence[str]) -> bool:
    """Whether a file or folder is left out: its name or its whole relative path matches."""
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(rel, p) for p in exclude)


def _prefixes(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def _oserror(exc: OSError, what: str = "could not be read") -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops back on itself"
    if exc.errno == errno.ENOENT:
        return "a broken symbolic link (its target is missing)"
    return f"{what}: {exc.strerror or exc}"


def check_file(st: os.stat_result) -> str | None:
    """Why a file with this ``stat`` cannot be indexed, or None."""
    if not stat.S_ISREG(st.st_mode):
        return _kind_of(st.st_mode)
    if st.st_size > MAX_FILE_BYTES:
        return (f"{format_bytes(st.st_size)}; the library indexes files up to "
                f"{format_bytes(MAX_FILE_BYTES)}")
    return None


def walk(root: str, include: Sequence[str] = (), exclude: Sequence[str] = DEFAULT_EXCLUDE, *,
         under: str = "", cancel: Callable[[], bool] | None = None) -> Iterator[Entry]:
    """Every file to index under ``root`` (or only under its subpath ``under``: a file or a
    folder), in name order, and what could not be walked, with the reason."""
    if under and any(excluded(prefix, exclude) for prefix in _prefixes(under)):
        return  # inside a left-out folder (.git, node_modules): nothing to index there
    start = os.path.join(root, under) if under else root
    try:
        top = os.stat(start)
    except OSError as exc:
        if under and exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            yield Entry(under, 0, 0, _oserror(exc))
        return  # gone: the caller drops what it had under it
    if under and not stat.S_ISDIR(top.st_mode):
        if not excluded(under, exclude) and wanted(under, include):
            yield Entry(under, top.st_size, top.st_mtime_ns, check_file(top))
        return
    seen: set[tuple[int, int]] = {(top.st_dev, top.st_ino)}
    stack = [(under, 0)]
    while stack:
        folder, depth = stack.pop()
        if cancel is not None and cancel():
            return
        try:
            with os.scandir(os.path.join(root, folder) if folder else root) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            yield Entry(folder, 0, 0, _oserror(exc, "the folder could not be opened"))
            continue
        folders = []
        for entry in entries:
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if excluded(rel, exclude):
                continue
            is_link = False
            try:
                is_link = entry.is_symlink()
                st = entry.stat()  # follows a link; a loop raises ELOOP
            except OSError as exc:
                if is_link and (exc.errno == errno.ELOOP or wanted(rel, include)):
                    yield Entry(rel, 0, 0, _oserror(exc))
                continue
            if stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in seen:
                    yield Entry(rel, 0, 0, "a link back to a folder already in the library")
                elif depth + 1 >= MAX_DEPTH:
                    yield Entry(rel, 0, 0, f"folders nested more than {MAX_DEPTH} deep")
                else:
                    seen.add((st.st_dev, st.st_ino))
                    folders.append(rel)
            elif wanted(rel, include):
                yield Entry(rel, st.st_size, st.st_mtime_ns, check_file(st))
        stack.extend((f, depth + 1) for f in reversed(folders))


def hash_file(path: str, cancel: Callable[[], bool] | None = None) -> tuple[str, os.stat_result]:
    """sha256 of a regular file and its ``stat`` when opened.  Opened without blocking and
    checked before reading, so a file replaced by a pipe since the walk cannot hang it.
    OSError (ECANCELED when ``cancel`` said stop), or ValueError with the reason from
    :func:`check_file`."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        reason = check_file(st)
        if reason:
            raise ValueError(reason)
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            while chunk := f.read(_HASH_CHUNK):
                if cancel is not None and cancel():
                    raise OSError(errno.ECANCELED, "cancelled")
                digest.update(chunk)
        return digest.hexdigest(), st
    finally:
        os.close(fd)
