"""The remote engine against llama.cpp's own `llama-server`: the same answers as in-process in
both modes, a tool call round trip, and the server dying mid-answer.

Needs a `llama-server` binary: $HEARTH_LLAMA_SERVER, or one on PATH. Build one from the
llama-cpp-python sdist Hearth already depends on with tests/fixtures/build_llama_server.sh
(about 12 CPU-minutes); without it these tests are skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time

import httpx2
import pytest
from fixtures.remote import LONG_GRAMMAR, NOW, turn
from fixtures.tiny_models import HARMONY_GRAMMAR, calling

from app.core.tool_loop import Toolbox
from app.core.tools.calculator import Calculator
from inference.events import AnswerDelta
from inference.remote import RemoteEngine
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

BINARY = os.environ.get("HEARTH_LLAMA_SERVER") or shutil.which("llama-server")
pytestmark = pytest.mark.skipif(
    not BINARY, reason="no llama-server: build one with tests/fixtures/build_llama_server.sh and "
                       "set HEARTH_LLAMA_SERVER")
MODEL = "tiny-gpt-oss"


def start(model_path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([BINARY, "-m", str(model_path), "--alias", MODEL, "--host", "127.0.0.1",
                             "--port", str(port), "-c", "4096", "--jinja", "--no-webui"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx2.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"llama-server exited: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("llama-server did not become ready in 30 s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stderr.close()


@pytest.fixture(scope="module")
def llama_server(tiny_gpt_oss):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = start(tiny_gpt_oss, port)
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)


@pytest.mark.parametrize("mode", ["harmony", "chat"])
def test_llama_server_reads_and_writes_harmony_as_in_process(store, llama_server, tiny_gpt_oss, mode):
    """The prompt llama-server evaluates is Hearth's, token for token (harmony mode), and
    what it writes comes back as reasoning and answer. (The words themselves may differ:
    another build, batch size and attention kernel can flip a near-tie in greedy decoding.)"""
    local = Engine(tiny_gpt_oss, LoadOptions(n_ctx=4096, flash_attn=False))
    remote = RemoteEngine(llama_server, MODEL, mode=mode)
    try:
        assert remote.counting == "server" and remote.n_ctx == 4096  # its /tokenize, its meta
        now = NOW if mode == "harmony" else None  # its chat template writes today's date
        sampling = Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR)
        here = turn(store, local, sampling=sampling, now=now)
        there = turn(store, remote, sampling=sampling, now=now)
    finally:
        remote.close()
        local.close()
    assert there.status == "complete"
    words = re.compile(r"[a-z]{1,8}( [a-z]{1,8}){0,2}")  # what HARMONY_GRAMMAR lets it write
    assert words.fullmatch(there.reasoning) and words.fullmatch(there.answer)
    if mode == "harmony":
        assert there.provenance.prompt_tokens == here.provenance.prompt_tokens
        assert there.provenance.prompt_sha256 == here.provenance.prompt_sha256


def test_a_tool_call_round_trip_through_llama_server(store, llama_server):
    remote = RemoteEngine(llama_server, MODEL, mode="harmony")
    grammar = calling("functions.calculator", '{"expression":"6*7"}', or_answer=True)
    try:
        for seed in range(60):
            result = turn(store, remote, "What is six times seven?",
                          Sampling(temperature=1.0, seed=seed, grammar=grammar),
                          toolbox=Toolbox([Calculator()]))
            calls = store.tool_calls.for_message(result.message_id)
            if len(calls) == 1 and result.answer:
                break
        else:
            pytest.fail("no seed in 60 gave one call and then an answer")
    finally:
        remote.close()
    assert (calls[0].recipient, calls[0].result, result.status) == (
        "functions.calculator", "42", "complete")


def test_llama_server_dying_mid_answer_keeps_what_came(store, tiny_gpt_oss, unused_port):
    proc = start(tiny_gpt_oss, unused_port)
    try:
        remote = RemoteEngine(f"http://127.0.0.1:{unused_port}/v1", MODEL, mode="harmony")

        def on_event(event):
            if isinstance(event, AnswerDelta) and proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        result = turn(store, remote, sampling=Sampling(temperature=0.0, grammar=LONG_GRAMMAR),
                      on_event=on_event)
        remote.close()
    finally:
        stop(proc)
    assert result.status == "failed" and result.answer and "kept" in result.error
