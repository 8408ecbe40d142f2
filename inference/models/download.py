"""Resumable, verified model downloads from the Hugging Face Hub: the app's only network use.

huggingface-hub resolves the file (size, LFS sha256, commit) and streams it (`http_get`, which
retries a dropped connection with a Range request). Its own `hf_hub_download` writes to a
per-process temporary file and deletes it on failure, so a pause or a quit would lose
everything: here the bytes go to `<file>.part`, with the remote file's identity beside it in
`<file>.part.json`, and a later call continues from the last byte on disk. The sha256 is
computed while writing (a resumed download first re-reads what is on disk) and checked against
the hub's before the file gets its final name, so a file without `.part` is a verified file.
"""

from __future__ import annotations

from common.errors import UserError

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"
_SPACE_MARGIN = 256 * 2**20  # leave this much free beyond the file itself
_HASH_BLOCK = 8 * 2**20
# huggingface-hub streams in 10 MiB pieces; writes, progress and pause happen per piece, so
# on a slow line Pause would take many seconds. 256 KiB: a quarter second at 1 MB/s.
CHUNK_SIZE = 256 * 2**10


class DownloadError(UserError):
    """A download failed for a reason the user can act on; the message says what to do."""


class ChecksumMismatch(DownloadError):
    pass


class DownloadStopped(Exception):
    """Paused or cancelled on request; the partial file stays for a later resume."""


@dataclass(frozen=True)
class RemoteFile:
    repo_id: str
    filename: str
    commit: str
    size: int
    sha256: str | None  # None for a non-LFS file (the hub gives a git sha1 then)
    url: str


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    bytes_per_second: float  # over the last few seconds; 0 until known

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_second <= 0:
            return None
        return (self.total - self.done) / self.bytes_per_second


def endpoint() -> str:
    """HF_ENDPOINT read now: huggingface-hub reads it once at import, too early for tests and
    for a user who sets a mirror after start."""
    return os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT


def destination(models_dir: Path, repo_id: str, filename: str) -> Path:
    """Where Hearth keeps a downloaded file: models/<owner>/<repo>/<filename>."""
    return Path(models_dir, *repo_id.split("/"), filename)


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _identity_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def partial_state(dest: Path) -> tuple[int, RemoteFile | None]:
    """Bytes already downloaded towards `dest`, and the remote file they belong to."""
    part = partial_path(dest)
    if not part.exists():
        return 0, None
    try:
        remote = RemoteFile(**json.loads(_identity_path(dest).read_text()))
    except (OSError, ValueError, TypeError):
        remote = None
    return part.stat().st_size, remote


def discard_partial(dest: Path) -> None:
    """Cancel: forget the bytes downloaded so far."""
    partial_path(dest).unlink(missing_ok=True)
    _identity_path(dest).unlink(missing_ok=True)


def resolve(repo_id: str, filename: str, revision: str = "main") -> RemoteFile:
    """Ask the hub for the file's size, sha256 and download URL (one HEAD request)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (EntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())
    try:
        # No retries with back-off here: offline, the user should hear so at once, not in 30 s.
        meta = get_hf_file_metadata(url)
    except RepositoryNotFoundError as exc:
        raise DownloadError(f"Hugging Face has no model repository named {repo_id!r} "
                            "(or it is private).") from exc
    except EntryNotFoundError as exc:
        raise DownloadError(f"{repo_id} has no file named {filename!r}.") from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{repo_id} has no revision {revision!r}.") from exc
    except Exception as exc:  # HfHubHTTPError, httpx's connection errors, OSError
        raise DownloadError(f"{unreachable(exc)} Check the connection and try again; the "
                            "download resumes where it stopped.") from exc
    if meta.size is None:
        raise DownloadError(f"Hugging Face did not say how large {filename} is; cannot download it safely.")
    etag = (meta.etag or "").lower()
    sha256 = etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else None
    return RemoteFile(repo_id, filename, meta.commit_hash or revision, meta.size, sha256,
                      meta.location)


def download(repo_id: str, filename: str, models_dir: Path, *, revision: str = "main",
             on_progress: Callable[[Progress], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[Path, str | None]:
    """Download (or finish downloading) a file into `models_dir`; returns its path and sha256.

    Raises DownloadStopped when `should_stop()` turns true (the partial file stays),
    DownloadError with a user-facing message otherwise. A file already downloaded is returned
    at once, without touching the network.
    """
    dest = destination(models_dir, repo_id, filename)
    if dest.exists():
        return dest, None
    remote = resolve(repo_id, filename, revision)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest):
        return _download_locked(remote, dest, revision, on_progress, should_stop)


def _download_locked(remote: RemoteFile, dest: Path, revision: str, on_progress,
                     should_stop) -> tuple[Path, str | None]:
    filename = remote.filename
    if dest.exists():  # another process finished it while this one waited for the lock
        return dest, None
    done, previous = partial_state(dest)
    if done and (previous is None or (previous.sha256, previous.size) != (remote.sha256, remote.size)
                 or done > remote.size):
        discard_partial(dest)  # the remote file changed since the pause: start over
        done = 0
    _check_space(dest.parent, remote.size - done)
    _identity_path(dest).write_text(json.dumps(asdict(remote)))

    hasher = hashlib.sha256()
    if done:
        with open(partial_path(dest), "rb") as existing:
            while block := existing.read(_HASH_BLOCK):
                _stop_if_asked(should_stop)
                hasher.update(block)
    meter = _Meter(remote.size, on_progress)
    meter.update(done)
    try:
        with open(partial_path(dest), "ab") as fh:
            sink = _HashingSink(fh, hasher, done, meter, should_stop)
            _fetch(remote, sink, done)
    except DownloadStopped:
        raise
    except DownloadError:
        raise
    except OSError as exc:
        if _is_disk_full(exc):
            raise DownloadError(f"The disk filled up while downloading {filename}. Free some "
                                "space and resume; nothing downloaded so far is lost.") from exc
        raise DownloadError(f"The download of {filename} was interrupted: {_reason(exc)}. "
                            "Resume it to continue where it stopped.") from exc
    except Exception as exc:  # httpx / huggingface-hub errors after their own retries
        raise DownloadError(f"The download of {filename} was interrupted: {_reason(exc)}. "
                            "Resume it to continue where it stopped.") from exc

    got = partial_path(dest).stat().st_size
    if got != remote.size:
        raise DownloadError(f"{filename} arrived incomplete ({got:,} of {remote.size:,} bytes). "
                            "Resume it to fetch the rest.")
    digest = sink.hasher.hexdigest()
    if remote.sha256 and digest != remote.sha256:
        discard_partial(dest)
        raise ChecksumMismatch(f"{filename} did not match its published checksum, so it was "
                               "deleted. The download was corrupted on the way: try again.")
    os.replace(partial_path(dest), dest)
    _identity_path(dest).unlink(missing_ok=True)
    return dest, digest


def _fetch(remote: RemoteFile, sink: _HashingSink, done: int) -> None:
    from huggingface_hub import constants
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers
    from tqdm.auto import tqdm

    class Silent(tqdm):  # progress goes through our own meter, not a terminal bar
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    headers = build_hf_headers(library_name="hearth")
    headers["Accept-Encoding"] = "identity"
    default_chunk, constants.DOWNLOAD_CHUNK_SIZE = constants.DOWNLOAD_CHUNK_SIZE, CHUNK_SIZE
    try:  # http_get reads the module constant as it streams; no parameter exists for it
        http_get(remote.url, sink, resume_size=done, expected_size=remote.size, headers=headers,
                 displayed_filename=remote.filename, tqdm_class=Silent)
    finally:
        constants.DOWNLOAD_CHUNK_SIZE = default_chunk


class _HashingSink:
    """The file object `http_get` writes to: hashes, meters and honours a stop request."""

    def __init__(self, fh, hasher, start: int, meter: _Meter, should_stop) -> None:
        self._fh, self.hasher = fh, hasher
        self._meter, self._should_stop = meter, should_stop
        self._written = start

    def write(self, chunk: bytes) -> int:
        _stop_if_asked(self._should_stop)
        self._fh.write(chunk)
        self.hasher.update(chunk)
        self._written += len(chunk)
        self._meter.update(self._written)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def seek(self, position: int, whence: int = 0) -> int:
        # http_get rewinds only when a server ignored our Range and sent the whole file again.
        if whence != 0 or position != 0:
            raise DownloadError("The server restarted the download part-way; try again.")
        self._fh.seek(0)
        self._fh.truncate()
        self.hasher = hashlib.sha256()  # the file restarts, and so does its hash
        self._written = 0
        return 0

    def truncate(self, size: int | None = None) -> int:
        self._fh.truncate(0 if size is None else size)
        return self._written

    def flush(self) -> None:
        self._fh.flush()


class _Meter:
    """Progress callbacks at most ten times a second, with speed over a sliding window."""

    WINDOW = 3.0

    def __init__(self, total: int, callback) -> None:
        self._total, self._callback = total, callback
        self._samples: list[tuple[float, int]] = []
        self._last_report = 0.0

    def update(self, done: int) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if now - self._last_report < 0.1 and done < self._total:
            return
        self._last_report = now
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
            self._samples.pop(0)
        (t0, d0), speed = self._samples[0], 0.0
        if now - t0 > 0.2:
            speed = (done - d0) / (now - t0)
        self._callback(Progress(done, self._total, speed))


class _exclusive:
    """One download of a file at a time, across processes (the window and `hearth models pull`
    would otherwise append to the same .part): an OS lock on `<file>.part.lock`."""

    def __init__(self, dest: Path) -> None:
        self._path = dest.with_name(dest.name + ".part.lock")
        self._fh = None

    def __enter__(self) -> None:
        self._fh = open(self._path, "a+b")
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(self._fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._fh.close()
            raise DownloadError(f"{self._path.name[:-len('.part.lock')]} is already being "
                                "downloaded (by another Hearth window or `hearth models pull`).") from exc

    def __exit__(self, *exc_info) -> None:
        self._fh.close()  # closing releases the lock; the empty file stays (unlinking would race)


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed + _SPACE_MARGIN > free:
        raise DownloadError(f"Not enough disk space: the download needs {needed / 1e9:.1f} GB "
                            f"and {folder} has {free / 1e9:.1f} GB free.")


def _stop_if_asked(should_stop) -> None:
    if should_stop is not None and should_stop():
        raise DownloadStopped()


def _is_disk_full(exc: OSError) -> bool:
    import errno

    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))


def _host() -> str:
    from urllib.parse import urlsplit

    return urlsplit(endpoint()).netloc or endpoint()


_NO_NAME = ("name or service not known", "temporary failure in name resolution",
            "nodename nor servname", "getaddrinfo failed", "no address associated")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _reason(exc: BaseException) -> str:
    """Why the hub could not be reached, in words rather than "[Errno -2] …"."""
    import socket
    import ssl

    host = _host()
    for link in _chain(exc):
        text = str(link).lower()
        if isinstance(link, socket.gaierror) or any(words in text for words in _NO_NAME):
            return f"no internet connection — Hearth could not reach {host}"
        if isinstance(link, ConnectionRefusedError) or "connection refused" in text:
            return f"{host} refused the connection"
        if isinstance(link, (TimeoutError, socket.timeout)) or "timed out" in text:
            return f"{host} did not answer in time"
        if isinstance(link, ssl.SSLError) or "certificate" in text:
            return f"a secure connection to {host} could not be made (a certificate problem)"
        if isinstance(link, (ConnectionResetError, ConnectionAbortedError)) or "reset by peer" in text:
            return f"the connection to {host} was cut"
        if isinstance(link, OSError) and "network is unreachable" in text:
            return f"no internet connection — Hearth could not reach {host}"
    return f"Hearth could not reach {host} ({_short(exc)})"


def unreachable(exc: BaseException) -> str:
    """A sentence saying why the hub could not be reached."""
    reason = _reason(exc)
    return reason[0].upper() + reason[1:] + "."


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
