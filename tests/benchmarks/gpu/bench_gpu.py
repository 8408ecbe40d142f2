"""gpt-oss-20b-shaped decoding on a GPU: llama.cpp's llama-bench against Hearth's runtime.

    python bench_gpu.py MODEL.gguf [--llama-bench PATH] [--out results.json]

Both sides use the same CUDA build of the vendored llama.cpp (build_llama.sh), the same GGUF
(make_model.py) and the same process-free GPU, one after the other:

1. llama-bench -m MODEL -p 512,2048 -n 128 -fa 1 -ngl 99 -r 3 (a subprocess, before Hearth loads).
2. Hearth's Engine (inference/runtime.py), everything on the GPU, 16,384-token context:
   decode speed over 256 tokens (median of 3) greedy, and at gpt-oss's recommended sampling
   (temperature 1.0, top-p 1.0) with the sampler chain on the GPU (`llama_set_sampler`), and once
   more with it on the CPU for contrast; then time to first token for a fresh prompt of 2,048 and
   8,192 tokens and for a follow-up turn (64 new tokens) on that history, which prefix reuse
   keeps in the KV cache.

Decode tokens/s is counted as in tests/benchmarks/bench_runtime.py: (tokens - 1) over the time
from the first token to the last, so prompt evaluation stays out of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from inference.events import GenerationStats
from inference.runtime import Engine, LoadOptions, ModelTooLargeError
from inference.sampling import Sampling

N_DECODE = 256
REPEATS = 3
N_CTX = 16384
NEW_TURN = 64  # tokens a follow-up adds on top of the history
HISTORIES = (2048, 8192)


def log(msg: str) -> None:
    print(msg, flush=True)


def run_llama_bench(binary: str, model: Path, timeout: int, prompts: str = "512,2048",
                    gens: str = "128", repeats: int = REPEATS) -> dict:
    cmd = [binary, "-m", str(model), "-p", prompts, "-n", gens, "-fa", "1", "-ngl", "99",
           "-r", str(repeats), "-o", "json"]
    log("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        log(proc.stderr[-4000:])
        raise RuntimeError(f"llama-bench exited {proc.returncode}")
    rows = json.loads(proc.stdout)
    out = {"command": " ".join(cmd[:1] + ["-m", "MODEL"] + cmd[3:]), "wall_s": time.perf_counter() - t0}
    for row in rows:
        key = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
        out[key] = {"avg_ts": row["avg_ts"], "stddev_ts": row["stddev_ts"],
                    "samples_ts": row.get("samples_ts")}
        for k in ("build_commit", "build_number", "gpu_info", "backends", "model_type",
                  "model_size", "model_n_params", "n_batch", "n_ubatch", "flash_attn"):
            if k in row:
                out.setdefault("info", {})[k] = row[k]
    return out


def decode_rate(engine: Engine, prompt: list[int], sampling: Sampling) -> dict:
    engine.forget_cache()
    stats = GenerationStats()
    n, t_first, tokens = 0, None, []
    for piece in engine.generate(prompt, sampling, stats=stats):
        n += 1
        tokens.append(piece.token)
        if t_first is None:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    return {"tps": (n - 1) / (t_end - t_first) if n > 1 else 0.0, "tokens": stats.generated_tokens,
            "finish": stats.finish_reason, "sampler": stats.sampler, "head": tokens[:8]}


def decode_figures(engine: Engine, prompt: list[int], makers: dict, repeats: int) -> dict:
    """Median over `repeats` runs of N_DECODE tokens for each sampling in `makers` (name →
    seed → Sampling), the kinds interleaved run by run so drift hits them alike. A random model
    can draw an end-of-generation token at temperature 1 (rarely); such a run is replaced."""
    runs = {name: [] for name in makers}
    seed = 1
    while any(len(r) < repeats for r in runs.values()) and seed <= repeats + 6:
        for name, make in makers.items():
            if len(runs[name]) >= repeats:
                continue
            run = decode_rate(engine, prompt, make(seed))
            if run["tokens"] >= N_DECODE:
                runs[name].append(run)
            else:
                log(f"  {name}: run stopped after {run['tokens']} tokens ({run['finish']}); another seed")
        seed += 1
    out = {}
    for name, rs in runs.items():
        rates = [r["tps"] for r in rs]
        out[name] = {"tps": statistics.median(rates), "runs_tps": rates, "sampler": rs[0]["sampler"],
                     "first_tokens": rs[0]["head"]}
        log(f"  {name}: {out[name]['tps']:.1f} tok/s ({out[name]['sampler']}; runs "
            + ", ".join(f"{x:.1f}" for x in rates) + ")")
    return out


def greedy(seed: int) -> Sampling:
    return Sampling(temperature=0, max_tokens=N_DECODE)


def temp1(seed: int) -> Sampling:
    """gpt-oss's recommended sampling (inference.sampling.GPT_OSS_DEFAULT), seeded."""
    return Sampling(temperature=1.0, top_p=1.0, seed=seed, max_tokens=N_DECODE)


def load(model: Path, options: LoadOptions, out: dict) -> Engine:
    t0 = time.perf_counter()
    try:
        engine = Engine(model, options)
    except ModelTooLargeError as exc:  # the fit estimate refused; say so and load anyway
        out["fit_refused"] = str(exc)
        engine = Engine(model, dataclasses.replace(options, allow_swap=True))
    out["load_s"] = time.perf_counter() - t0
    return engine


def ttft_ms(engine: Engine, prompt: list[int]) -> tuple[float, int]:
    stats = GenerationStats()
    for _ in engine.generate(prompt, Sampling(temperature=0, max_tokens=1), stats=stats):
        pass
    return stats.ttft_s * 1000, stats.cached_tokens


def follow_up(engine: Engine, history: int, rng: random.Random) -> dict:
    fresh, warm, cached = [], [], 0
    for _ in range(REPEATS):
        prompt = [rng.randrange(300, 199_000) for _ in range(history)]
        turn = [rng.randrange(300, 199_000) for _ in range(NEW_TURN)]
        engine.forget_cache()
        t, _ = ttft_ms(engine, prompt)
        fresh.append(t)
        t, cached = ttft_ms(engine, prompt + turn)
        warm.append(t)
    return {"history_tokens": history, "fresh_ttft_ms": statistics.median(fresh),
            "fresh_runs_ms": fresh, "follow_up_prompt_tokens": history + NEW_TURN,
            "follow_up_cached_tokens": cached, "follow_up_ttft_ms": statistics.median(warm),
            "follow_up_runs_ms": warm}


def hearth(model: Path, out: dict, save, repeats: int, thread_variants: list[int]) -> None:
    """Fills `out` as it goes (and calls save()), so a failure part-way keeps what was measured."""
    options = LoadOptions(n_ctx=N_CTX, n_gpu_layers=-1)
    engine = load(model, options, out)
    if engine.fit is not None:
        out["fit"] = {"verdict": engine.fit.verdict.name, "reason": engine.fit.reason}
    out["n_ctx"] = engine.n_ctx
    out["n_batch"] = engine.n_batch
    out["n_threads"] = options.n_threads or max(1, (os.cpu_count() or 1) - 1)
    log(f"Hearth: loaded in {out['load_s']:.1f} s, n_ctx {engine.n_ctx}")

    prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story."}]))
    out["decode_prompt_tokens"] = len(prompt)
    decode_rate(engine, prompt, Sampling(temperature=0, max_tokens=32))  # warm-up (graphs, kernels)
    decode_rate(engine, prompt, Sampling(temperature=1.0, top_p=1.0, seed=99, max_tokens=32))
    figures = decode_figures(engine, prompt, {"greedy": greedy, "temp1": temp1}, repeats)
    out["decode_greedy"], out["decode_temp1"] = figures["greedy"], figures["temp1"]
    save()

    # Contrast: the same chain on the CPU (LoadOptions.backend_sampling=False); the next chain
    # built (new seeds, so a new chain) stays off the device.
    engine.options = dataclasses.replace(engine.options, backend_sampling=False)
    decode_rate(engine, prompt, Sampling(temperature=1.0, top_p=1.0, seed=98, max_tokens=32))
    out["decode_temp1_cpu_sampler"] = decode_figures(
        engine, prompt, {"temp1 cpu sampler": lambda seed: temp1(1000 + seed)}, 3)["temp1 cpu sampler"]
    engine.options = options
    save()

    rng = random.Random(0)
    ttft_ms(engine, [rng.randrange(300, 199_000) for _ in range(512)])  # warm-up of batch kernels
    for history in HISTORIES:
        key = f"follow_up_{history // 1024}k"
        out[key] = f = follow_up(engine, history, rng)
        log(f"  {history:,} tokens: fresh {f['fresh_ttft_ms']:.1f} ms, "
            f"follow-up {f['follow_up_ttft_ms']:.1f} ms ({f['follow_up_cached_tokens']:,} reused)")
        save()
    engine.close()

    # Decode threads (LoadOptions.n_threads): with every layer on the GPU the CPU threads only
    # feed the graph, but llama.cpp's threadpool spins between nodes.
    for n in thread_variants:
        variant: dict = {}
        engine = load(model, dataclasses.replace(options, n_threads=n), variant)
        log(f"Hearth, n_threads={n}:")
        decode_rate(engine, prompt, Sampling(temperature=0, max_tokens=32))
        decode_rate(engine, prompt, Sampling(temperature=1.0, top_p=1.0, seed=99, max_tokens=32))
        variant.update(decode_figures(engine, prompt, {"greedy": greedy, "temp1": temp1}, repeats))
        out[f"decode_threads_{n}"] = variant
        engine.close()
        save()


def rounds(model: Path, binary: str | None, n: int, repeats: int, timeout: int, out: list, save) -> None:
    """llama-bench tg256 and Hearth's decode taken turn about, `n` times: the GPU's speed drifts
    by a few percent over a minute (seen: tg128 306 → 319 tok/s in one call), so a comparison
    is only fair between neighbours."""
    for i in range(n):
        entry: dict = {"round": i + 1}
        if binary:
            lb = run_llama_bench(binary, model, timeout, prompts="0", gens="256", repeats=repeats)
            entry["llama_bench_tg256"] = lb["tg256"]["avg_ts"]
        engine = load(model, LoadOptions(n_ctx=N_CTX, n_gpu_layers=-1), entry)
        prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story."}]))
        decode_rate(engine, prompt, Sampling(temperature=0, max_tokens=32))
        decode_rate(engine, prompt, Sampling(temperature=1.0, top_p=1.0, seed=99, max_tokens=32))
        figures = decode_figures(engine, prompt, {"greedy": greedy, "temp1": temp1}, repeats)
        engine.close()
        entry["hearth_greedy"] = figures["greedy"]["tps"]
        entry["hearth_temp1"] = figures["temp1"]["tps"]
        entry["hearth_runs"] = {k: v["runs_tps"] for k, v in figures.items()}
        out.append(entry)
        log(f"round {i + 1}: llama-bench tg256 {entry.get('llama_bench_tg256', 0):.1f}, Hearth greedy "
            f"{entry['hearth_greedy']:.1f}, temp 1.0 {entry['hearth_temp1']:.1f} tok/s")
        save()


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True, check=False,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def table(r: dict) -> str:
    lines = ["| measure | tokens/s or ms |", "|---|---|"]
    for part, when in (("llama_bench", ""), ("llama_bench_after", ", after Hearth")):
        lb = r.get(part, {})
        for key in ("pp512", "pp2048", "tg128", "tg256"):
            if key in lb:
                lines.append(f"| llama-bench {key}{when} | {lb[key]['avg_ts']:,.1f} ± "
                             f"{lb[key]['stddev_ts']:,.1f} tok/s |")
    h = r.get("hearth", {})
    for key, label in (("decode_greedy", "Hearth decode, greedy"),
                       ("decode_temp1", "Hearth decode, temperature 1.0 / top-p 1.0"),
                       ("decode_temp1_cpu_sampler", "Hearth decode, temperature 1.0, CPU sampler")):
        if key in h:
            runs = ", ".join(f"{x:.1f}" for x in h[key]["runs_tps"])
            lines.append(f"| {label} ({h[key]['sampler']}) | {h[key]['tps']:,.1f} tok/s (runs {runs}) |")
    for key, v in h.items():
        if key.startswith("decode_threads_"):
            for name in ("greedy", "temp1"):
                lines.append(f"| Hearth decode, {name}, n_threads={key.rsplit('_', 1)[1]} | "
                             f"{v[name]['tps']:,.1f} tok/s |")
    for f in (v for k, v in h.items() if k.startswith("follow_up_")):
        lines.append(f"| TTFT, fresh {f['history_tokens']:,}-token prompt | {f['fresh_ttft_ms']:,.1f} ms |")
        lines.append(f"| TTFT, follow-up on {f['history_tokens']:,} tokens of history "
                     f"(+{NEW_TURN}, {f['follow_up_cached_tokens']:,} reused) | {f['follow_up_ttft_ms']:,.1f} ms |")
    for e in r.get("rounds", []):
        lines.append(f"| round {e['round']}: llama-bench tg256 / Hearth greedy / Hearth temp 1.0 | "
                     f"{e.get('llama_bench_tg256', 0):,.1f} / {e['hearth_greedy']:,.1f} / "
                     f"{e['hearth_temp1']:,.1f} tok/s |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--llama-bench", default=None)
    ap.add_argument("--llama-bench-timeout", type=int, default=240)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=REPEATS, help="decode runs per figure")
    ap.add_argument("--lb-repeats", type=int, default=REPEATS, help="llama-bench -r")
    ap.add_argument("--threads", default="", help="also decode with these n_threads (comma list)")
    ap.add_argument("--lb-after", action="store_true",
                    help="run llama-bench tg128,tg256 again after Hearth, to bracket drift")
    ap.add_argument("--rounds", type=int, default=0,
                    help="then alternate llama-bench tg256 and Hearth's decode this many times")
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script on a CPU")
    args = ap.parse_args()
    if args.quick:
        global N_DECODE, N_CTX, HISTORIES
        N_DECODE, N_CTX, HISTORIES = 24, 2048, (256, 1024)

    results: dict = {
        "gpu": gpu_name(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(), "model": args.model.name,
        "model_bytes": args.model.stat().st_size,
    }

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))

    if args.llama_bench:
        try:
            results["llama_bench"] = run_llama_bench(args.llama_bench, args.model, args.llama_bench_timeout,
                                                     gens="128,256" if args.lb_after else "128",
                                                     repeats=args.lb_repeats)
            log(json.dumps(results["llama_bench"], indent=1))
        except Exception as exc:  # noqa: BLE001 - report, then go on to Hearth's side
            results["llama_bench_error"] = repr(exc)
            log(f"llama-bench failed: {exc!r}")
        save()
    try:
        threads = [int(x) for x in args.threads.split(",") if x]
        hearth(args.model, results.setdefault("hearth", {}), save, args.repeats, threads)
        if args.llama_bench and args.lb_after:
            results["llama_bench_after"] = run_llama_bench(
                args.llama_bench, args.model, args.llama_bench_timeout, prompts="0",
                gens="128,256", repeats=args.lb_repeats)
            save()
        if args.rounds:
            rounds(args.model, args.llama_bench, args.rounds, args.lb_repeats, args.llama_bench_timeout,
                   results.setdefault("rounds", []), save)
    except Exception as exc:
        results["hearth_error"] = repr(exc)
        log(f"Hearth failed: {exc!r}")
        raise
    finally:
        save()
        log("\n" + results["gpu"])
        log(table(results))


if __name__ == "__main__":
    main()
