"""Issue 20 on a GPU, in one run: llama-bench, llama-server and Hearth side by side.

    python bench_speed.py MODEL.gguf --bin BUILD/bin [--out speed.json] [--repeats 3] [--budget S]

Same CUDA build of the vendored llama.cpp for all three (build_llama.sh), the gpt-oss-20b-shaped
random GGUF (make_model.py). Sections, each saved as it ends (a later one that runs out of
`--budget` seconds is skipped and says so):

1. llama-bench: prefill pp2048/8192/32768 at micro-batch 512 and 2048; tg128 at depth 0/8k/32k.
2. llama-server (the peer apps wrap): decode 256 tokens with its default CPU sampler, its
   backend sampler and greedy; TTFT fresh and follow-up (+64 tokens) on 8k of history.
3. Hearth (inference/runtime.py) with its defaults (micro-batch chosen by the fit estimate):
   decode greedy / temperature 1.0 (GPU and CPU sampler) with speculative decoding off and on;
   TTFT and decode at depth 2k/8k/32k; follow-up TTFT; speculative decoding: the cost of a
   verifying batch by draft length, a rewrite task with prompt-lookup drafts, and the same
   answer with drafts forced right (all, or 1 in 2 / 1 in 4 wrong) - the weights are random,
   so a random model's own acceptance says nothing about a real one's: the forced runs give
   the speed a model that copies at that rate would get.
4. Prefill variants for the gap to llama-bench: micro-batch 512 / 2048 / 4096, the sampler
   attached or not, the sliding-window cache full-size or not.
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
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

from llama_server_peer import LlamaServer, decode as server_decode, ttft as server_ttft  # noqa: E402

from inference.events import GenerationStats  # noqa: E402
from inference.runtime import Engine, LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402
from inference.speculative import SpeculativeOptions, Speculator  # noqa: E402

N_DECODE = 256
N_CTX = 40960  # room for a 32k prompt and its answer
DEPTHS = (2048, 8192, 32768)
NEW_TURN = 64
DOC = ("Hearth runs local models on your own machine, keeps every conversation in one SQLite "
       "file and never sends a byte to the network. Documents are read once, split into "
       "passages, and the passages that matter are placed in the prompt. ") * 6


def log(msg: str) -> None:
    print(msg, flush=True)


VOCAB = 199_000  # random prompt tokens are drawn below this (--quick: the model's vocabulary)


def rand_tokens(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(300 if VOCAB > 1000 else 0, VOCAB) for _ in range(n)]


# -- llama-bench --------------------------------------------------------------------------------


def llama_bench(binary: Path, model: Path, args: list[str], timeout: int) -> list[dict]:
    cmd = [str(binary), "-m", str(model), "-fa", "1", "-ngl", "99", "-o", "json", *args]
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"llama-bench exited {proc.returncode}: {proc.stderr[-2000:]}")
    rows = []
    for row in json.loads(proc.stdout):
        rows.append({k: row.get(k) for k in ("n_prompt", "n_gen", "n_depth", "n_batch", "n_ubatch",
                                             "avg_ts", "stddev_ts", "samples_ts")})
        log(f"  pp{row['n_prompt']} tg{row['n_gen']} d{row.get('n_depth', 0)} ub{row['n_ubatch']}: "
            f"{row['avg_ts']:.1f} ± {row['stddev_ts']:.1f} tok/s")
    return rows


# -- Hearth ---------------------------------------------------------------------------------------


def generate(engine: Engine, prompt: list[int], sampling: Sampling, fresh: bool = True) -> dict:
    if fresh:
        engine.forget_cache()
    stats = GenerationStats()
    n, t_first = 0, None
    for _ in engine.generate(prompt, sampling, stats=stats):
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    return {"tps": (stats.generated_tokens - 1) / (t_end - t_first) if n > 1 else 0.0,
            "tokens": stats.generated_tokens, "ttft_ms": stats.ttft_s * 1000,
            "drafted": stats.drafted_tokens, "accepted": stats.accepted_tokens,
            "sampler": stats.sampler, "cached": stats.cached_tokens}


def summary(runs: list[dict]) -> dict:
    out = {"tps": statistics.median(r["tps"] for r in runs), "runs_tps": [round(r["tps"], 1) for r in runs],
           "tokens": [r["tokens"] for r in runs], "sampler": runs[0]["sampler"]}
    drafted = sum(r["drafted"] for r in runs)
    if drafted:
        out["acceptance"] = sum(r["accepted"] for r in runs) / drafted
        out["drafted"] = drafted
    return out


def interleaved(engine: Engine, prompt: list[int], kinds: dict, repeats: int,
                forced_answer: list[int] | None = None) -> dict:
    """kinds: name → (Sampling maker(seed), speculative options or None, speculator factory);
    `forced_answer`: runs with a scripted drafter get that answer (forced_sampler)."""
    runs = {k: [] for k in kinds}
    for i in range(repeats):
        for name, (make, spec, factory) in kinds.items():
            engine.options = dataclasses.replace(engine.options, speculative=spec)
            engine.speculator_factory = factory or Speculator
            if factory is not None and forced_answer is not None:
                with forced_sampler(engine, forced_answer, factory):
                    runs[name].append(generate(engine, prompt, make(i + 1)))
            else:
                runs[name].append(generate(engine, prompt, make(i + 1)))
    engine.options = dataclasses.replace(engine.options, speculative=SpeculativeOptions())
    engine.speculator_factory = Speculator
    out = {}
    for name, rs in runs.items():
        out[name] = summary(rs)
        acc = f", acceptance {out[name]['acceptance']:.2f}" if "acceptance" in out[name] else ""
        log(f"  {name}: {out[name]['tps']:.1f} tok/s{acc} (runs {out[name]['runs_tps']})")
    return out


def greedy(seed: int, n: int = N_DECODE) -> Sampling:
    return Sampling(temperature=0.0, max_tokens=n)


def temp1(seed: int, n: int = N_DECODE) -> Sampling:
    return Sampling(temperature=1.0, top_p=1.0, seed=seed, max_tokens=n)


class Recorder(Speculator):
    """Never drafts; keeps the tokens the generation decided (to script a forced run)."""

    answers: dict = {}

    def __init__(self, prompt, options):
        super().__init__(prompt, options)
        self.n_prompt = len(prompt)
        Recorder.answers["last"] = self

    def draft(self, limit):
        return []


def scripted(answer: list[int], n_prompt: int, wrong_every: int, adaptive: bool = False):
    """A drafter that proposes the recorded answer, every `wrong_every`-th token made wrong;
    `adaptive`: as long as the acceptance suggests and paused like prompt lookup, else always
    max_draft tokens."""

    class Scripted(Speculator):
        current = None

        def __init__(self, prompt, options):
            super().__init__(prompt, options)
            self.n_prompt = len(prompt)
            self.count = 0
            Scripted.current = self

        def draft(self, limit):
            if adaptive and self._pause_left > 0:
                self._pause_left -= 1
                return []
            done = len(self.lookup.tokens) - n_prompt
            length = self.draft_length if adaptive else self.options.max_draft
            out = []
            for t in answer[done:done + min(limit, length)]:
                self.count += 1
                wrong = wrong_every and self.count % wrong_every == 0
                out.append((t - 1 if t else 1) if wrong else t)
            return out

    return Scripted


class forced_sampler:
    """Within the block, the engine's sampler does all its work on the GPU as usual, then
    returns the recorded answer's token for that position: the model "agrees" with a draft
    exactly when the drafter proposed the answer. A random model's batched and single-token
    logits differ in the last bits (other CUDA kernels), and its flat distribution over 201k
    tokens turns that into other tokens, so without this a recorded answer is never re-made."""

    def __init__(self, engine: Engine, answer: list[int], factory):
        self.engine, self.answer, self.factory = engine, answer, factory

    def __enter__(self):
        engine, answer, factory = self.engine, self.answer, self.factory
        self.real = real = engine._sampler

        def sampler(sampling):
            chain = real(sampling)
            sample = type(chain).sample

            def forced(ctx, index=-1):
                sample(chain, ctx, index)
                spec = factory.current
                done = len(spec.lookup.tokens) - spec.n_prompt
                return answer[done + max(index, 0)]

            chain.sample = forced
            return chain

        engine._sampler = sampler
        return self

    def __exit__(self, *exc):
        if self.engine._chain is not None:
            self.engine._chain.__dict__.pop("sample", None)
        self.engine._sampler = self.real


def logits_check(engine: Engine, prompt: list[int], k: int = 6) -> dict:
    """Batched vs single-token logits for the same positions (sampler on the CPU, raw logits):
    the largest difference and whether each argmax agrees."""
    import numpy as np
    engine.options = dataclasses.replace(engine.options, backend_sampling=False)
    chain = engine._sampler(Sampling(temperature=0.0))
    n_vocab = engine.n_vocab
    engine.forget_cache()
    engine._decode(prompt)
    tokens = [chain.sample(engine._ctx)]
    single = []
    for _ in range(k):
        engine._decode([tokens[-1]])
        single.append(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(engine._ctx, -1),
                                            shape=(n_vocab,)).copy())
        tokens.append(int(single[-1].argmax()))
    engine._truncate_cache(len(prompt))
    engine._decode_all(tokens[:k])
    batched = [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(engine._ctx, i), shape=(n_vocab,)).copy()
               for i in range(k)]
    engine.options = dataclasses.replace(engine.options, backend_sampling=True)
    diffs = [float(abs(a - b).max()) for a, b in zip(single, batched)]
    top2 = [float(np.sort(a)[-1] - np.sort(a)[-2]) for a in single]
    out = {"max_abs_diff": diffs, "argmax_agrees": [int(a.argmax() == b.argmax()) for a, b in zip(single, batched)],
           "top1_top2_gap": top2, "logit_std": float(single[0].std())}
    log(f"  logits, batch of {k} vs one at a time: max |diff| {max(diffs):.2e}, argmax agrees "
        f"{sum(out['argmax_agrees'])}/{k}, top-2 gap {min(top2):.2e}..{max(top2):.2e}, std {out['logit_std']:.3f}")
    return out


def verify_cost(engine: Engine, prompt: list[int], sizes=(0, 1, 2, 3, 4, 6, 8, 12, 16), reps=15) -> dict:
    """ms to evaluate the last token plus k drafted ones with an output at each, and sample them
    all (temperature 1.0 on the GPU); k = 0 is one ordinary decode step."""
    chain = engine._sampler(temp1(1))
    engine.forget_cache()
    engine._decode(prompt)
    base = len(engine._cached)
    out = {}
    for k in sizes:
        times = []
        for _ in range(reps):
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
        out[k] = statistics.median(times)
        log(f"  verify 1+{k}: {out[k]:.2f} ms ({out[k] / out[0]:.2f}× one step)")
    return out


def hearth_main(model: Path, out: dict, save, repeats: int, skip: set) -> None:
    t0 = time.perf_counter()
    engine = Engine(model, LoadOptions(n_ctx=N_CTX, n_gpu_layers=-1))
    out["load_s"] = time.perf_counter() - t0
    out["n_batch"], out["n_ctx"] = engine.n_batch, engine.n_ctx
    out["fit"] = engine.fit.reason if engine.fit else None
    log(f"Hearth: n_batch {engine.n_batch}, n_ctx {engine.n_ctx}, loaded in {out['load_s']:.1f} s")
    prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story."}]))
    generate(engine, prompt, greedy(0, 32))
    generate(engine, prompt, temp1(0, 32))
    off, on = None, SpeculativeOptions()
    out["decode"] = interleaved(engine, prompt, {
        "greedy": (greedy, off, None), "temp1": (temp1, off, None),
        "greedy, drafts on": (greedy, on, None), "temp1, drafts on": (temp1, on, None)}, repeats)
    save()
    engine.options = dataclasses.replace(engine.options, backend_sampling=False)
    out["decode_cpu_sampler"] = interleaved(engine, prompt, {
        "temp1 cpu sampler": (lambda s: temp1(100 + s), off, None)}, repeats)
    engine.options = dataclasses.replace(engine.options, backend_sampling=True)
    save()

    spec_part(engine, prompt, out, save, repeats)
    if "rest" not in skip:  # depth, follow-ups, the sampler during prompt batches
        rest(engine, out, save, repeats)


def spec_part(engine: Engine, prompt: list[int], out: dict, save, repeats: int) -> None:
    off, on = None, SpeculativeOptions()
    out["logits_check"] = logits_check(engine, prompt)
    out["verify_ms"] = verify_cost(engine, prompt, sizes=(0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16))
    save()

    # Speculative decoding: a rewrite task with real prompt-lookup drafts, then forced drafts.
    rewrite = engine.tokenize(engine.render([{"role": "user", "content":
                                              "Rewrite this document, fixing typos:\n\n" + DOC}]))
    out["rewrite_prompt_tokens"] = len(rewrite)
    out["spec_rewrite_lookup"] = interleaved(engine, rewrite, {
        "rewrite greedy, no drafts": (greedy, off, None),
        "rewrite greedy, prompt lookup": (greedy, on, None),
        "rewrite temp1, prompt lookup": (temp1, on, None)}, repeats)
    save()
    forced = {}
    for name, make in (("greedy", greedy), ("temp1", temp1)):
        engine.options = dataclasses.replace(engine.options, speculative=on)
        engine.speculator_factory = Recorder
        generate(engine, prompt, make(7))
        rec = Recorder.answers["last"]
        answer = rec.lookup.tokens[rec.n_prompt:] + [0] * 32  # room for a last draft
        kinds = {f"{name}, no drafts": (lambda s, m=make: m(7), off, None)}
        for max_draft in (2, 4, 6, 7, 8, 12):
            kinds[f"{name}, all drafts right, {max_draft} a batch"] = (
                lambda s, m=make: m(7), SpeculativeOptions(max_draft=max_draft),
                scripted(answer, len(prompt), 0))
        for wrong in (2, 4, 10):
            kinds[f"{name}, 1 in {wrong} drafted wrong, adaptive"] = (
                lambda s, m=make: m(7), on, scripted(answer, len(prompt), wrong, adaptive=True))
        forced.update(interleaved(engine, prompt, kinds, repeats, answer))
        save()
    out["spec_forced"] = forced


def rest(engine: Engine, out: dict, save, repeats: int) -> None:
    # Depth: a fresh prompt of d tokens (its TTFT is prefill), then 128 tokens decoded there.
    rng = random.Random(0)
    depth = {}
    for d in DEPTHS:
        runs = []
        for i in range(repeats):
            p = rand_tokens(rng, d)
            runs.append(generate(engine, p, Sampling(temperature=0.0, max_tokens=128)))
        depth[d] = {"ttft_ms": statistics.median(r["ttft_ms"] for r in runs),
                    "ttft_runs_ms": [round(r["ttft_ms"], 1) for r in runs],
                    "prefill_tps": d / (statistics.median(r["ttft_ms"] for r in runs) / 1000),
                    "decode_tps": statistics.median(r["tps"] for r in runs),
                    "decode_runs_tps": [round(r["tps"], 1) for r in runs]}
        log(f"  depth {d}: TTFT {depth[d]['ttft_ms']:.0f} ms ({depth[d]['prefill_tps']:.0f} tok/s), "
            f"decode {depth[d]['decode_tps']:.1f} tok/s")
        out["depth"] = depth
        save()

    follow = {}
    for h in DEPTHS[:2]:
        fresh, warm, cached = [], [], 0
        for _ in range(repeats):
            p, turn = rand_tokens(rng, h), rand_tokens(rng, NEW_TURN)
            fresh.append(generate(engine, p, greedy(0, 1))["ttft_ms"])
            r = generate(engine, p + turn, greedy(0, 1), fresh=False)
            warm.append(r["ttft_ms"])
            cached = r["cached"]
        follow[h] = {"fresh_ms": statistics.median(fresh), "follow_up_ms": statistics.median(warm),
                     "follow_up_runs_ms": [round(x, 1) for x in warm], "cached": cached}
        log(f"  follow-up on {h}: {follow[h]['follow_up_ms']:.1f} ms ({cached} reused), fresh "
            f"{follow[h]['fresh_ms']:.0f} ms")
    out["follow_up"] = follow
    save()

    # The sampler attached during prompt batches, or not (greedy on the CPU: nothing attached).
    gap = {}
    for attached in (True, False):
        engine.options = dataclasses.replace(engine.options, backend_sampling=attached)
        times = [generate(engine, rand_tokens(rng, DEPTHS[1]), greedy(0, 1))["ttft_ms"]
                 for _ in range(repeats)]
        gap[f"8k, sampler {'attached' if attached else 'not attached'}"] = statistics.median(times)
        log(f"  8k prefill, sampler attached={attached}: {statistics.median(times):.0f} ms")
    out["prefill_sampler"] = gap
    engine.close()
    save()


def hearth_variants(model: Path, out: dict, save, repeats: int, deadline: float) -> None:
    rng = random.Random(1)
    for name, options in (("n_batch 512", {"n_batch": 512}), ("n_batch 4096", {"n_batch": 4096}),
                          ("n_batch 2048, swa_full off", {"n_batch": 2048, "swa_full": False})):
        if time.monotonic() > deadline:
            out[name] = "skipped: out of time"
            continue
        with Engine(model, LoadOptions(n_ctx=N_CTX, n_gpu_layers=-1, **options)) as engine:
            generate(engine, rand_tokens(rng, 512), greedy(0, 1))
            res = {}
            for d in DEPTHS[1:]:
                times = [generate(engine, rand_tokens(rng, d), greedy(0, 1))["ttft_ms"]
                         for _ in range(repeats if d < DEPTHS[-1] else max(1, repeats - 1))]
                res[d] = {"ttft_ms": statistics.median(times), "prefill_tps": d / statistics.median(times) * 1000}
                log(f"  {name}: {d} tokens in {res[d]['ttft_ms']:.0f} ms ({res[d]['prefill_tps']:.0f} tok/s)")
            out[name] = res
        save()


def gpu_name() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                               "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "none"


def swa_and_policy(model: Path, out: dict, save, repeats: int) -> None:
    """Decode at depth and 32k prefill with the sliding-window cache full-size (Hearth's
    default) and window-size (llama-bench's); the draft-length policy on forced drafts."""
    rng = random.Random(3)
    for swa_full in (True, False):
        name = f"swa_full {'on' if swa_full else 'off'}"
        with Engine(model, LoadOptions(n_ctx=N_CTX, n_gpu_layers=-1, swa_full=swa_full)) as engine:
            generate(engine, rand_tokens(rng, 512), greedy(0, 16))
            res = {}
            for d in DEPTHS[1:]:
                runs = [generate(engine, rand_tokens(rng, d), greedy(0, 128)) for _ in range(repeats)]
                res[d] = {"ttft_ms": statistics.median(r["ttft_ms"] for r in runs),
                          "decode_tps": statistics.median(r["tps"] for r in runs),
                          "decode_runs_tps": [round(r["tps"], 1) for r in runs]}
                log(f"  {name}, depth {d}: TTFT {res[d]['ttft_ms']:.0f} ms, decode {res[d]['decode_tps']:.1f} tok/s")
            out[name] = res
            save()
            if swa_full:
                continue
            prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story."}]))
            engine.speculator_factory = Recorder
            generate(engine, prompt, greedy(7))
            rec = Recorder.answers["last"]
            answer = rec.lookup.tokens[rec.n_prompt:] + [0] * 32
            kinds = {"no drafts": (greedy, None, None)}
            for wrong in (4, 10, 20):
                kinds[f"1 in {wrong} drafted wrong, adaptive"] = (
                    greedy, SpeculativeOptions(), scripted(answer, len(prompt), wrong, adaptive=True))
            kinds["all right, adaptive"] = (greedy, SpeculativeOptions(),
                                            scripted(answer, len(prompt), 0, adaptive=True))
            out["policy"] = interleaved(engine, prompt, kinds, repeats, answer)
            save()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--bin", type=Path, required=True, help="folder with llama-bench, llama-server")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=400, help="seconds; later sections are skipped")
    ap.add_argument("--skip", default="", help="sections to skip: swa,bench,server,hearth,variants; rest (Hearth after decode and drafts)")
    ap.add_argument("--server-log", type=Path, default=Path("/tmp/llama-server.log"))
    ap.add_argument("--quick", action="store_true", help="small sizes: check the script on a CPU")
    args = ap.parse_args()
    if args.quick:
        global N_DECODE, N_CTX, DEPTHS, VOCAB
        N_DECODE, N_CTX, DEPTHS, VOCAB = 24, 4096, (256, 512, 1024), 256
    deadline = time.monotonic() + args.budget
    skip = set(args.skip.split(","))
    res: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "model": args.model.name,
                 "gpu": gpu_name()}

    def save() -> None:
        if args.out:
            args.out.write_text(json.dumps(res, indent=1, default=str))

    def section(name: str, fn) -> None:
        if name in skip:
            return
        if time.monotonic() > deadline:
            res[name] = "skipped: out of time"
            log(f"== {name}: skipped, out of time")
            return
        log(f"== {name} ({deadline - time.monotonic():.0f} s left)")
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report it and go on with the next section
            res[f"{name}_error"] = repr(exc)
            log(f"{name} failed: {exc!r}")
        save()

    r = args.repeats
    section("swa", lambda: swa_and_policy(args.model, res.setdefault("swa_and_policy", {}), save, r))
    section("hearth", lambda: hearth_main(args.model, res.setdefault("hearth", {}), save, r, skip))
    section("server", lambda: server(args, res.setdefault("llama_server", {}), r))
    section("bench", lambda: res.__setitem__("llama_bench", {
        "prefill": llama_bench(args.bin / "llama-bench", args.model,
                               ["-p", "2048,8192,32768", "-n", "0", "-b", "2048", "-ub", "512,2048",
                                "-r", str(r)], 300),
        "depth": llama_bench(args.bin / "llama-bench", args.model,
                             ["-p", "0", "-n", "128", "-d", "0,8192,32768", "-r", str(r)], 300)}))
    section("variants", lambda: hearth_variants(args.model, res.setdefault("hearth_variants", {}),
                                                save, r, deadline))
    save()


def server(args, out: dict, repeats: int) -> None:
    rng = random.Random(2)
    with Engine(args.model, LoadOptions(vocab_only=True)) as vocab:
        prompt = vocab.tokenize(vocab.render([{"role": "user", "content": "Tell me a long story."}]))
    with LlamaServer(args.bin / "llama-server", args.model, n_ctx=min(16384, N_CTX),
                     extra=["-ngl", "99", "-fa", "on"],
                     log=args.server_log) as srv:
        out["command"] = srv.command
        out["decode"] = server_decode(srv, prompt, N_DECODE, repeats)
        for k, v in out["decode"].items():
            log(f"  llama-server {k}: {v['tps']:.1f} tok/s (runs {v['runs_tps']})")
        out["follow_up_8k"] = server_ttft(srv, [rand_tokens(rng, DEPTHS[1]) for _ in range(repeats)],
                                          rand_tokens(rng, NEW_TURN))
        log(f"  llama-server follow-up on 8k: {out['follow_up_8k']['follow_up_ttft_ms']:.1f} ms, "
            f"fresh {out['follow_up_8k']['fresh_ttft_ms']:.0f} ms")


if __name__ == "__main__":
    main()
