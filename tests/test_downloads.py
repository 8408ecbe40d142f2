"""Downloads over real HTTP from a local stand-in for the Hub: full, paused and resumed,
killed and resumed, corrupted, changed remotely, refused for disk space."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from inference.gguf_file import check_gguf
from inference.models import download
from inference.models.download import ChecksumMismatch, DownloadError, DownloadStopped

REPO, FILE = "ggml-org/tiny-gpt-oss-GGUF", "tiny-gpt-oss.gguf"


@pytest.fixture
def hub(fake_hub, monkeypatch, tiny_gpt_oss):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setattr(download, "CHUNK_SIZE", 64 * 1024)  # several pieces for a 0.7 MB file
    from huggingface_hub import file_download

    # http_get sleeps a second before retrying a dropped connection; not in tests.
    monkeypatch.setattr(file_download, "time", SimpleNamespace(sleep=lambda s: None))
    fake_hub.add_file(REPO, FILE, tiny_gpt_oss)
    return fake_hub


def _ranges(hub) -> list[str]:
    return [r.headers.get("range", "") for r in hub.requests if r.method == "GET" and "/blobs/" in r.path]


def test_a_full_download_is_verified_and_reports_progress(hub, tmp_path, tiny_gpt_oss):
    seen = []
    path, sha = download.download(REPO, FILE, tmp_path, on_progress=seen.append)
    assert path == tmp_path / "ggml-org" / "tiny-gpt-oss-GGUF" / FILE
    assert path.read_bytes() == tiny_gpt_oss.read_bytes()
    assert sha == hashlib.sha256(tiny_gpt_oss.read_bytes()).hexdigest()
    assert check_gguf(path).architecture == "gpt-oss"
    assert not download.partial_path(path).exists()
    assert seen[-1].done == seen[-1].total == tiny_gpt_oss.stat().st_size
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    # A second call finds the verified file and never touches the network.
    hub.clear_requests()
    assert download.download(REPO, FILE, tmp_path)[0] == path
    assert hub.requests == []


def test_a_paused_download_resumes_from_the_last_byte_on_disk(hub, tmp_path, tiny_gpt_oss):
    hub.set_faults(REPO, FILE, throttle_bps=2_000_000)
    calls = []

    def stop_after_some() -> bool:
        calls.append(1)
        return len(calls) > 4  # four pieces written, then Pause

    with pytest.raises(DownloadStopped):
        download.download(REPO, FILE, tmp_path, should_stop=stop_after_some)
    dest = download.destination(tmp_path, REPO, FILE)
    done, remote = download.partial_state(dest)
    assert 0 < done < tiny_gpt_oss.stat().st_size and not dest.exists()
    assert remote.sha256 == hashlib.sha256(tiny_gpt_oss.read_bytes()).hexdigest()

    hub.set_faults(REPO, FILE)
    hub.clear_requests()
    path, _ = download.download(REPO, FILE, tmp_path)
    assert _ranges(hub) == [f"bytes={done}-"]  # only the rest was fetched
    assert path.read_bytes() == tiny_gpt_oss.read_bytes()


def test_a_dropped_connection_is_resumed_with_a_range_request(hub, tmp_path, tiny_gpt_oss):
    hub.set_faults(REPO, FILE, drop_after=200_000)
    path, _ = download.download(REPO, FILE, tmp_path)
    assert path.read_bytes() == tiny_gpt_oss.read_bytes()
    ranges = _ranges(hub)
    assert len(ranges) == 2 and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_a_corrupted_download_is_refused_and_deleted(hub, tmp_path):
    hub.set_faults(REPO, FILE, corrupt=True)
    with pytest.raises(ChecksumMismatch, match="did not match its published checksum"):
        download.download(REPO, FILE, tmp_path)
    dest = download.destination(tmp_path, REPO, FILE)
    assert not dest.exists() and not download.partial_path(dest).exists()


def test_a_file_changed_on_the_hub_since_the_pause_starts_over(hub, tmp_path, tiny_gpt_oss):
    calls = []
    with pytest.raises(DownloadStopped):
        download.download(REPO, FILE, tmp_path, should_stop=lambda: calls.append(1) or len(calls) > 3)
    newer = tiny_gpt_oss.read_bytes()[:-1000] + b"\x01" * 1000
    hub.add_file(REPO, FILE, newer)
    hub.clear_requests()
    path, sha = download.download(REPO, FILE, tmp_path)
    assert _ranges(hub) == [""]  # from the first byte: the old part belonged to another file
    assert path.read_bytes() == newer and sha == hashlib.sha256(newer).hexdigest()


def test_not_enough_disk_space_is_said_before_any_byte_moves(hub, tmp_path, monkeypatch):
    real = download.shutil.disk_usage
    monkeypatch.setattr(download.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=300_000))
    with pytest.raises(DownloadError, match="Not enough disk space"):
        download.download(REPO, FILE, tmp_path)
    assert _ranges(hub) == []


@pytest.mark.parametrize("repo, filename, message", [
    ("nobody/nothing", FILE, "no model repository named"),
    (REPO, "missing.gguf", "has no file named 'missing.gguf'"),
])
def test_unknown_repositories_and_files_get_a_clear_message(hub, tmp_path, repo, filename, message):
    with pytest.raises(DownloadError, match=message):
        download.download(repo, filename, tmp_path)


def test_an_unreachable_hub_gets_a_clear_message(tmp_path, monkeypatch):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port} refused the connection") as failed:
        download.download(REPO, FILE, tmp_path)
    assert "Errno" not in str(failed.value)


def test_no_internet_is_said_in_words(tmp_path, monkeypatch):
    """An address that cannot be looked up (as offline): "[Errno -2] Name or service not known"
    is what httpx says; the person reads that there is no connection."""
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")  # .invalid never resolves (RFC 2606)
    with pytest.raises(DownloadError) as failed:
        download.download(REPO, FILE, tmp_path)
    message = str(failed.value)
    assert message.startswith("No internet connection — Hearth could not reach hub.invalid.")
    assert "Errno" not in message and "[" not in message


def test_models_pull_killed_half_way_then_run_again_resumes(hub, tmp_path, smollm2_path):
    """The command line as a user runs it: `hearth models pull`, the process killed, the same
    command again. SmolLM2 (98 MB) so that the kill lands between the 1 MiB pieces."""
    repo, filename = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", smollm2_path.name
    hub.add_file(repo, filename, smollm2_path)
    hub.set_faults(repo, filename, throttle_bps=20_000_000)
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint}
    command = [sys.executable, "-m", "app.cli", "models", "pull", repo, filename]
    dest = download.destination(Path(env["HEARTH_DATA_DIR"]) / "models", repo, filename)
    part = download.partial_path(dest)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 20_000_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = part.stat().st_size
    assert 0 < done < smollm2_path.stat().st_size and not dest.exists()

    hub.set_faults(repo, filename)
    hub.clear_requests()
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert "Resuming" in finished.stderr
    assert finished.stdout.strip() == str(dest)
    assert _ranges(hub) == [f"bytes={done}-"]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == \
        hashlib.sha256(smollm2_path.read_bytes()).hexdigest()


def test_a_server_that_ignores_the_range_gets_the_whole_file_again_and_it_verifies(
        hub, tmp_path, tiny_gpt_oss):
    calls = []
    with pytest.raises(DownloadStopped):
        download.download(REPO, FILE, tmp_path, should_stop=lambda: calls.append(1) or len(calls) > 3)
    hub.set_faults(REPO, FILE, ignore_range=True)
    path, sha = download.download(REPO, FILE, tmp_path)
    assert _ranges(hub)[-1].startswith("bytes=")  # asked for the rest, got everything
    assert path.read_bytes() == tiny_gpt_oss.read_bytes()
    assert sha == hashlib.sha256(tiny_gpt_oss.read_bytes()).hexdigest()


def test_a_second_download_of_the_same_file_is_refused_while_the_first_runs(hub, tmp_path, tiny_gpt_oss):
    import threading

    hub.set_faults(REPO, FILE, throttle_bps=300_000)
    first_started, outcome = threading.Event(), {}

    def first() -> None:
        outcome["path"], _ = download.download(
            REPO, FILE, tmp_path, on_progress=lambda p: first_started.set())

    thread = threading.Thread(target=first)
    thread.start()
    assert first_started.wait(20)
    with pytest.raises(DownloadError, match="already being downloaded"):
        download.download(REPO, FILE, tmp_path)
    thread.join(30)
    assert outcome["path"].read_bytes() == tiny_gpt_oss.read_bytes()
