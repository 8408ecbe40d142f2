"""sha256_file streaming hash and the (path, size, mtime_ns) hash cache."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from storage import HashCancelled, Store, sha256_file


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(os.urandom(100_000) + b"tail")
    return path


def digest_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 100_004, 1 << 23])
def test_sha256_file_matches_hashlib(model, chunk):
    if chunk == 1:
        model.write_bytes(b"small file")
    assert sha256_file(model, chunk=chunk) == digest_of(model)


def test_sha256_file_empty_file(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_sha256_file_streams_with_progress(model):
    calls = []
    result = sha256_file(model, chunk=30_000, progress=lambda *args: calls.append(args))
    size = model.stat().st_size
    assert result == digest_of(model)
    assert calls == [(0, size), (30_000, size), (60_000, size), (90_000, size), (size, size)]


def test_sha256_file_cancel(model):
    stop = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 20_000:
            stop.set()

    with pytest.raises(HashCancelled):
        sha256_file(model, chunk=10_000, progress=progress, cancel=stop.is_set)
    assert seen == [0, 10_000, 20_000]  # stopped right after the flag went up
    with pytest.raises(ValueError):
        sha256_file(model, chunk=0)
    with pytest.raises(FileNotFoundError):
        sha256_file(model.with_name("absent"))


def test_cache_round_trip(store, model, monkeypatch):
    assert store.model_files.cached_sha256(model) is None
    digest = digest_of(model)
    store.model_files.remember_sha256(model, digest.upper())
    assert store.model_files.cached_sha256(model) == digest
    assert store.model_files.cached_sha256(str(model)) == digest
    monkeypatch.chdir(model.parent)
    assert store.model_files.cached_sha256(model.name) == digest


def test_cache_invalidates_when_file_changes(store, model):
    digest = digest_of(model)
    store.model_files.remember_sha256(model, digest)
    st = model.stat()

    # Same size, new mtime: a different file as far as the cache knows.
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert store.model_files.cached_sha256(model) is None
    # Back to the remembered mtime: valid again.
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.model_files.cached_sha256(model) == digest
    # Different size, mtime forced back to the old value: still invalid.
    with open(model, "ab") as f:
        f.write(b"more")
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.model_files.cached_sha256(model) is None
    # Re-remembering replaces the entry rather than adding one.
    store.model_files.remember_sha256(model, digest_of(model))
    assert store.model_files.cached_sha256(model) == digest_of(model) != digest
    assert store.db.execute("SELECT COUNT(*) FROM model_files").fetchone()[0] == 1
    model.unlink()
    assert store.model_files.cached_sha256(model) is None


def test_remember_uses_stat_taken_before_hashing(store, model):
    before = model.stat()
    digest = digest_of(model)
    model.write_bytes(b"replaced while hashing")
    store.model_files.remember_sha256(model, digest, before)
    assert store.model_files.cached_sha256(model) is None


def test_remember_validates_digest(store, model):
    for bad in ["", "abc", "g" * 64, "a" * 63]:
        with pytest.raises(ValueError):
            store.model_files.remember_sha256(model, bad)
    assert store.db.execute("SELECT COUNT(*) FROM model_files").fetchone()[0] == 0


def test_sha256_hashes_once_then_uses_cache(store, model):
    calls = []
    digest = store.model_files.sha256(model, progress=lambda d, t: calls.append(d))
    assert digest == digest_of(model) and calls  # hashed, with progress
    calls.clear()
    assert store.model_files.sha256(model, progress=lambda d, t: calls.append(d)) == digest
    assert calls == []  # served from the cache
    model.write_bytes(b"new weights")
    assert store.model_files.sha256(model) == hashlib.sha256(b"new weights").hexdigest()


def test_cache_shared_between_stores(tmp_path, model):
    path = tmp_path / "hearth.db"
    with Store(path) as a:
        a.model_files.remember_sha256(model, digest_of(model))
    with Store(path) as b:
        assert b.model_files.cached_sha256(model) == digest_of(model)
