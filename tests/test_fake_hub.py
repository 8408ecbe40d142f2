"""FakeHub against huggingface_hub's real download functions, over real HTTP.

These tests also pin down how huggingface_hub 2.4.0 behaves on the way, since the app's download
code relies on it: see the docstrings.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub import (
    HfApi,
    constants,
    file_download,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
)
from huggingface_hub.errors import (
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import HfFileMetadata, http_get
from huggingface_hub.utils import get_session

from fixtures.fake_hub import FakeHub

REPO = "acme/tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
DATA = os.urandom(300_000)
SHA256 = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Skip http_get's one-second pause before each retry, recording it instead."""
    sleeps: list[float] = []
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=sleeps.append))
    return sleeps


def _metadata(
    hub: FakeHub, filename: str = FILE, revision: str = "main", repo: str = REPO
) -> HfFileMetadata:
    return get_hf_file_metadata(
        hf_hub_url(repo, filename, revision=revision, endpoint=hub.endpoint), token=False
    )


def _gets(hub: FakeHub) -> list[dict[str, str]]:
    return [r.headers for r in hub.requests if r.method == "GET"]


def test_metadata_comes_from_the_redirect_with_the_cdn_url_as_location(fake_hub: FakeHub) -> None:
    """The resolve HEAD is answered with a 302 to another origin, as huggingface.co does for LFS
    files, so get_hf_file_metadata reads size, sha256 and commit off the redirect and never
    contacts the CDN."""
    commit = fake_hub.add_file(REPO, FILE, DATA)

    meta = _metadata(fake_hub)

    assert (meta.size, meta.etag, meta.commit_hash) == (len(DATA), SHA256, commit)
    assert meta.location.startswith(fake_hub.cdn_endpoint + "/")
    assert meta.xet_file_data is None
    assert [(r.method, r.path) for r in fake_hub.requests] == [
        ("HEAD", f"/{REPO}/resolve/main/{FILE}")
    ]


def test_http_get_downloads_the_whole_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_file(REPO, FILE, DATA)
    meta = _metadata(fake_hub)

    with open(tmp_path / "part", "wb") as f:
        http_get(meta.location, f, expected_size=meta.size)

    assert (tmp_path / "part").read_bytes() == DATA
    assert "range" not in _gets(fake_hub)[0]


def test_http_get_resumes_with_a_range_request(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The way the app resumes: append to the .part file, passing what it holds as resume_size.
    The file is served from disk, as a real model would be."""
    source = tmp_path / "model.gguf"
    source.write_bytes(DATA)
    fake_hub.add_file(REPO, FILE, source)
    meta = _metadata(fake_hub)
    part = tmp_path / "model.gguf.part"
    part.write_bytes(DATA[:123_456])

    with open(part, "ab") as f:
        http_get(meta.location, f, resume_size=123_456, expected_size=meta.size)

    assert part.read_bytes() == DATA
    assert _gets(fake_hub)[0]["range"] == "bytes=123456-"


@pytest.mark.parametrize(
    ("range_header", "status", "content_range", "body"),
    [
        ("bytes=1000-", 206, f"bytes 1000-299999/{len(DATA)}", DATA[1000:]),
        ("bytes=10-19", 206, f"bytes 10-19/{len(DATA)}", DATA[10:20]),
        ("bytes=299990-999999", 206, f"bytes 299990-299999/{len(DATA)}", DATA[299_990:]),
        ("bytes=-5", 206, f"bytes 299995-299999/{len(DATA)}", DATA[-5:]),
        (f"bytes={len(DATA)}-", 416, f"bytes */{len(DATA)}", b""),
        (None, 200, None, DATA),
    ],
)
def test_blob_honours_range_headers(
    fake_hub: FakeHub, range_header: str | None, status: int, content_range: str | None, body: bytes
) -> None:
    fake_hub.add_file(REPO, FILE, DATA)
    headers = {"Range": range_header} if range_header else {}

    response = get_session().get(_metadata(fake_hub).location, headers=headers)

    assert response.status_code == status
    assert response.headers.get("Content-Range") == content_range
    assert response.content == body


@pytest.mark.parametrize(
    ("chunk_size", "retry_range"), [(constants.DOWNLOAD_CHUNK_SIZE, None), (65_536, "bytes=65536-")]
)
def test_http_get_retries_a_dropped_connection_itself(
    fake_hub: FakeHub,
    tmp_path: Path,
    no_retry_sleep: list[float],
    monkeypatch: pytest.MonkeyPatch,
    chunk_size: int,
    retry_range: str | None,
) -> None:
    """A connection closed mid-body raises httpx2.RemoteProtocolError inside http_get, which
    sleeps 1 s and calls itself again with resume_size = the bytes it has written so far (up to
    5 retries in a row without progress, then it re-raises).

    It writes only whole DOWNLOAD_CHUNK_SIZE (10 MiB) chunks: httpx buffers iter_bytes up to
    that size, and a buffered partial chunk is lost on the error. So a drop inside the first
    10 MiB restarts from byte 0 with no Range header, and a later one resumes at the last 10 MiB
    boundary. The file is intact either way.
    """
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk_size)
    fake_hub.add_file(REPO, FILE, DATA)
    fake_hub.set_faults(REPO, FILE, drop_after=100_000)
    meta = _metadata(fake_hub)

    with open(tmp_path / "part", "wb") as f:
        http_get(meta.location, f, expected_size=meta.size)

    assert (tmp_path / "part").read_bytes() == DATA
    assert [headers.get("range") for headers in _gets(fake_hub)] == [None, retry_range]
    assert no_retry_sleep == [1]


def test_hf_hub_download_keeps_no_partial_file_when_it_gives_up(
    fake_hub: FakeHub, tmp_path: Path, no_retry_sleep: list[float]
) -> None:
    """hf_hub_download writes to `blobs/<etag>.<random>.incomplete` and deletes it on failure,
    so nothing survives for a later call, or another process, to resume from."""
    fake_hub.add_file(REPO, FILE, DATA)
    fake_hub.set_faults(REPO, FILE, drop_after=100_000, drop_times=10)

    with pytest.raises(httpx2.RemoteProtocolError):
        hf_hub_download(REPO, FILE, endpoint=fake_hub.endpoint, cache_dir=tmp_path)

    assert len(_gets(fake_hub)) == 6  # the first try and 5 retries
    assert list(tmp_path.rglob("*.incomplete")) == []


def test_corrupt_bytes_pass_through_unchecked(fake_hub: FakeHub, tmp_path: Path) -> None:
    """Neither http_get nor hf_hub_download checks the sha256 (only the size), so the app must."""
    fake_hub.add_file(REPO, FILE, DATA)
    fake_hub.set_faults(REPO, FILE, corrupt=True)
    meta = _metadata(fake_hub)

    with open(tmp_path / "part", "wb") as f:
        http_get(meta.location, f, expected_size=meta.size)
    cached = hf_hub_download(REPO, FILE, endpoint=fake_hub.endpoint, cache_dir=tmp_path / "cache")

    for got in ((tmp_path / "part").read_bytes(), Path(cached).read_bytes()):
        assert len(got) == len(DATA)
        assert sum(a != b for a, b in zip(got, DATA, strict=True)) == 1
        assert hashlib.sha256(got).hexdigest() != meta.etag == SHA256


def test_throttle_paces_the_body(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_file(REPO, FILE, DATA[:64_000])
    fake_hub.set_faults(REPO, FILE, throttle_bps=320_000)
    meta = _metadata(fake_hub)

    started = time.monotonic()
    with open(tmp_path / "part", "wb") as f:
        http_get(meta.location, f, expected_size=meta.size)

    assert time.monotonic() - started >= 0.2
    assert (tmp_path / "part").read_bytes() == DATA[:64_000]


def test_changing_a_file_moves_main_but_the_old_commit_keeps_its_bytes(fake_hub: FakeHub) -> None:
    """How a test simulates the remote file changing between a pause and a resume."""
    old_commit = fake_hub.add_file(REPO, FILE, DATA)
    new_data = DATA[::-1]
    new_commit = fake_hub.add_file(REPO, FILE, new_data)

    new = _metadata(fake_hub)
    pinned = _metadata(fake_hub, revision=old_commit)

    assert (new.commit_hash, new.etag) == (new_commit, hashlib.sha256(new_data).hexdigest())
    assert (pinned.commit_hash, pinned.etag) == (old_commit, SHA256)
    assert get_session().get(pinned.location).content == DATA


def test_unknown_repo_revision_or_file_raise_the_hub_errors(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    fake_hub.add_file(REPO, FILE, DATA)

    with pytest.raises(RemoteEntryNotFoundError):
        _metadata(fake_hub, filename="missing.gguf")
    with pytest.raises(RepositoryNotFoundError):
        _metadata(fake_hub, repo="acme/missing")
    with pytest.raises(RevisionNotFoundError):
        _metadata(fake_hub, revision="v2")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(REPO, "missing.gguf", endpoint=fake_hub.endpoint, cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("acme/missing", FILE, endpoint=fake_hub.endpoint, cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=fake_hub.endpoint).model_info("acme/missing")


def test_hf_hub_download_fills_the_cache_then_only_checks_metadata(
    fake_hub: FakeHub, tmp_path: Path
) -> None:
    commit = fake_hub.add_file(REPO, FILE, DATA)

    path = hf_hub_download(REPO, FILE, endpoint=fake_hub.endpoint, cache_dir=tmp_path)
    fake_hub.clear_requests()
    again = hf_hub_download(REPO, FILE, endpoint=fake_hub.endpoint, cache_dir=tmp_path)

    assert path == again == str(tmp_path / "models--acme--tiny-GGUF" / "snapshots" / commit / FILE)
    assert Path(path).read_bytes() == DATA
    assert [r.method for r in fake_hub.requests] == ["HEAD"]


def test_model_info_and_paths_info_list_sizes_and_lfs_sha256(fake_hub: FakeHub) -> None:
    fake_hub.add_file(REPO, "README.md", b"# tiny\n")
    commit = fake_hub.add_file(REPO, FILE, DATA)
    api = HfApi(endpoint=fake_hub.endpoint)

    info = api.model_info(REPO, files_metadata=True)
    [file] = api.get_paths_info(REPO, [FILE, "missing.gguf"], expand=True)

    assert info.sha == commit
    assert {s.rfilename: (s.size, s.lfs.sha256) for s in info.siblings} == {
        "README.md": (7, hashlib.sha256(b"# tiny\n").hexdigest()),
        FILE: (len(DATA), SHA256),
    }
    assert (file.path, file.size, file.lfs.sha256, file.last_commit.oid) == (
        FILE,
        len(DATA),
        SHA256,
        commit,
    )
