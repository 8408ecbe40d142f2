"""llama.cpp's own llama-server, measured as the peer beside Hearth (issue 20).

Apps that wrap llama-server give their users what it gives, so the benchmarks time it on the
same GGUF and the same llama.cpp build: decode speed with its default CPU sampler, its backend
sampler and greedy, and time to first token fresh and on a follow-up that its prompt cache
keeps. Token ids are sent as the prompt (`/completion`), so both sides evaluate the very same
tokens; figures are the server's own `timings` plus the client's wall time per request.
No dependencies beyond the standard library.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """A llama-server subprocess on a loopback port; a context manager."""

    def __init__(self, binary: str | Path, model: Path, *, n_ctx: int, extra: list[str] = (),
                 log: Path | None = None, env: dict | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
               "-c", str(n_ctx), "-np", "1", "--no-webui", *extra]
        self.command = " ".join(cmd)
        self._log = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    def __enter__(self) -> "LlamaServer":
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("llama-server did not become ready")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def complete(self, tokens: list[int], **params) -> tuple[dict, float]:
        """One non-streamed /completion: (the response, wall seconds)."""
        body = json.dumps({"prompt": tokens, "cache_prompt": True, **params}).encode()
        req = urllib.request.Request(self.url + "/completion", body,
                                     {"Content-Type": "application/json"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=600) as r:
            out = json.loads(r.read())
        return out, time.perf_counter() - t0

    def erase_cache(self) -> None:
        """Make the next prompt start cold: a one-token prompt replaces the slot's cache."""
        self.complete([1], n_predict=1)


# The sampling kinds measured, as /completion parameters (the server's defaults otherwise add
# top-k 40 and min-p 0.05; gpt-oss's recommended sampling has neither).
KINDS = {
    "temp1_cpu_sampler": {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0},
    "temp1_backend_sampler": {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0,
                              "backend_sampling": True},
    "greedy": {"temperature": 0.0, "top_k": 1},
}


def decode(server: LlamaServer, prompt: list[int], n: int, repeats: int, kinds=KINDS) -> dict:
    """Decode tokens/s per sampling kind (the server's predicted_per_second), median of
    `repeats` runs, kinds interleaved run by run; the prompt stays cached between runs."""
    runs: dict[str, list] = {k: [] for k in kinds}
    server.complete(prompt, n_predict=16, **KINDS["greedy"])  # warm-up
    for i in range(repeats):
        for name, params in kinds.items():
            out, _ = server.complete(prompt, n_predict=n, seed=1 + i, **params)
            t = out["timings"]
            runs[name].append({"tps": t["predicted_per_second"], "tokens": t["predicted_n"]})
    return {name: {"tps": statistics.median(r["tps"] for r in rs),
                   "runs_tps": [round(r["tps"], 1) for r in rs],
                   "tokens": [r["tokens"] for r in rs]} for name, rs in runs.items()}


def ttft(server: LlamaServer, history: list[list[int]], turn: list[int]) -> dict:
    """Time to first token: each prompt of `history` fresh, then with `turn` appended (the
    server's prompt cache keeps the history). Wall time of a one-token request, medians."""
    fresh, warm, server_warm, cached = [], [], [], 0
    for prompt in history:
        server.erase_cache()
        _, t = server.complete(prompt, n_predict=1, **KINDS["greedy"])
        fresh.append(t * 1000)
        out, t = server.complete(prompt + turn, n_predict=1, **KINDS["greedy"])
        warm.append(t * 1000)
        server_warm.append(out["timings"]["prompt_ms"])
        cached = out["timings"].get("cache_n", 0)
    return {"fresh_ttft_ms": statistics.median(fresh), "fresh_runs_ms": fresh,
            "follow_up_ttft_ms": statistics.median(warm), "follow_up_runs_ms": warm,
            "follow_up_server_prompt_ms": statistics.median(server_warm),
            "follow_up_cached_tokens": cached}
