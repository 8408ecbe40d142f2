"""A .docx as a zip archive, read without trusting it: its directory size, its declared
sizes, and above all the bytes it actually inflates.

A zip's sizes are claims. An entry may declare 1 kB and inflate to 2 GB, and Python's
``zipfile`` inflates a whole entry in one call when asked for all of it (``read()``), so
the declared-size check alone does not bound memory. Parts are therefore only ever read
through :func:`stream_part`, 64 kB at a time, counting what came out, and reading stops
with a DocumentError at :data:`MAX_UNCOMPRESSED_BYTES` or at an implausible compression
ratio.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from common.units import format_bytes

from .read_text import not_readable
from .units import DocumentError

MAX_UNCOMPRESSED_BYTES = 500_000_000
MAX_COMPRESSION_RATIO = 50
# Below this many unpacked bytes even an extreme ratio is harmless, and small documents
# full of repeated markup can legitimately compress very well.
RATIO_CHECK_FROM_BYTES = 10 * 1024 * 1024
# zipfile builds an object per directory entry (~400 bytes each): 4M entries fit in a
# 200 MB file. A Word document lists tens of parts, a few thousand with many pictures.
MAX_DIRECTORY_BYTES = 4_000_000
CHUNK_BYTES = 64 * 1024
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"


def damaged(name: str) -> DocumentError:
    return DocumentError(f"{name} is not a valid Word document (.docx), or it is damaged.")


def _bomb(name: str, what: str) -> DocumentError:
    return DocumentError(f"{name} {what}. It may be a zip bomb; Hearth did not read it.")


def directory_size(path: Path) -> int | None:
    """The size of the zip's central directory as its end record states it (what
    ``zipfile`` will read and parse); None when there is no end record."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        tail_start = max(0, size - (22 + 65535))  # the end record, then a comment
        f.seek(tail_start)
        tail = f.read()
        at = tail.rfind(_END_OF_DIRECTORY)
        if at < 0 or len(tail) - at < 22:
            return None
        (directory,) = struct.unpack_from("<I", tail, at + 12)
        locator = at - 20
        if directory == 0xFFFFFFFF and locator >= 0 and \
                tail[locator:locator + 4] == _ZIP64_LOCATOR:
            (record,) = struct.unpack_from("<Q", tail, locator + 8)
            f.seek(record)
            zip64 = f.read(56)
            if len(zip64) == 56:
                (directory,) = struct.unpack_from("<Q", zip64, 40)
        return directory


def open_archive(path: Path, name: str, main_part: str) -> zipfile.ZipFile:
    """The archive, vetted: a directory of sane size holding ``main_part``, declared sizes
    under the limits. DocumentError otherwise; the caller closes the archive."""
    directory = directory_size(path)
    if directory is not None and directory > MAX_DIRECTORY_BYTES:
        raise DocumentError(
            f"{name} lists far more parts than a Word document has (a directory of "
            f"{format_bytes(directory)}); Hearth did not open it.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise damaged(name) from exc
    try:
        _check_declared(archive, path, name, main_part)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_declared(archive: zipfile.ZipFile, path: Path, name: str, main_part: str) -> None:
    entries = archive.infolist()
    if main_part not in archive.NameToInfo:
        raise not_readable(name)
    # A cheap early refusal on what the archive claims; stream_part checks what it does.
    unpacked = sum(entry.file_size for entry in entries)
    packed = max(1, os.path.getsize(path))
    if unpacked > MAX_UNCOMPRESSED_BYTES:
        raise DocumentError(
            f"{name} would unpack to {format_bytes(unpacked)}, more than the "
            f"{format_bytes(MAX_UNCOMPRESSED_BYTES)} Hearth allows for a Word document. "
            "It may be a zip bomb; Hearth did not open it."
        )
    if unpacked > RATIO_CHECK_FROM_BYTES and unpacked > MAX_COMPRESSION_RATIO * packed:
        raise DocumentError(
            f"{name} is compressed {unpacked // packed:,}×, far more than a real Word "
            f"document (Hearth allows {MAX_COMPRESSION_RATIO}×). It may be a zip bomb; "
            "Hearth did not open it."
        )


class Budget:
    """Bytes inflated so far from one archive, across all its parts."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self.packed = max(1, os.path.getsize(path))
        self.inflated = 0

    def take(self, count: int) -> None:
        self.inflated += count
        if self.inflated > MAX_UNCOMPRESSED_BYTES:
            raise _bomb(self.name, f"unpacks to more than {format_bytes(MAX_UNCOMPRESSED_BYTES)}"
                        ", more than Hearth allows for a Word document")
        if self.inflated > RATIO_CHECK_FROM_BYTES and \
                self.inflated > MAX_COMPRESSION_RATIO * self.packed:
            raise _bomb(self.name, f"is compressed more than {MAX_COMPRESSION_RATIO}×, far "
                        "more than a real Word document")


def stream_part(archive: zipfile.ZipFile, part: str, budget: Budget,
                limit: int | None = None) -> Iterator[bytes]:
    """The part's bytes, inflated at most :data:`CHUNK_BYTES` at a time and counted
    against ``budget`` (and against ``limit`` for this part alone). A part the archive
    lies about (wrong size or checksum) is reported as damage."""
    read = 0
    try:
        with archive.open(part) as member:
            while chunk := member.read(CHUNK_BYTES):
                read += len(chunk)
                budget.take(len(chunk))
                if limit is not None and read > limit:
                    raise DocumentError(
                        f"{budget.name} holds a {part} larger than {format_bytes(limit)}; "
                        "Hearth did not read it.")
                yield chunk
    except zipfile.BadZipFile as exc:
        if "CRC" in str(exc):  # zipfile stops at the stated size, so a part that lied ends here
            raise DocumentError(f"{budget.name} is damaged: a part of it does not match its "
                                "checksum or the size it states.") from exc
        raise damaged(budget.name) from exc
    except (EOFError, NotImplementedError, RuntimeError, OSError,
            ValueError, zlib.error, _lzma_error()) as exc:
        # NotImplementedError: a compression method zipfile lacks; RuntimeError: encrypted;
        # OSError: bzip2's "invalid data stream"; zlib.error: a broken deflate stream.
        raise damaged(budget.name) from exc


def _lzma_error() -> type[Exception]:
    try:
        import lzma
    except ImportError:  # Python built without it: zipfile then cannot inflate LZMA either
        return zlib.error
    return lzma.LZMAError
