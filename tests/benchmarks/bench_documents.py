"""Documents: how long a 300-page PDF takes to enter the library (hash, extract, chunk,
index), and how fast a question finds its passages (FTS5 search, and the whole plan).

30 pages each hold one fact; each query asks for one of them, so the run also reports how
often the best passage is on the right page.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_documents.py`). Prints a
table and writes bench-results/documents.json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixtures.documents import report_pages, write_pdf  # noqa: E402

from app.core.documents import plan_for_turn  # noqa: E402
from inference.context import output_reserve  # noqa: E402
from storage import Store, sha256_file  # noqa: E402
from storage.documents import chunk, extract  # noqa: E402

PAGES = 300
FACT_PAGES = range(5, PAGES, 10)  # 30 facts
REPEATS = 3
N_CTX = 16384


def fact(page: int) -> str:
    return f"The archive codename for expedition number {page} is Kestrel{page * 7}."


def question(page: int) -> str:
    return f"What archive codename was given to expedition number {page}?"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def bench_ingest(root: Path) -> tuple[dict, Path]:
    pdf = write_pdf(root / "big.pdf", report_pages(PAGES, {p: fact(p) for p in FACT_PAGES}),
                    title="Expedition archive")
    phases: dict[str, list[float]] = {"hash": [], "extract": [], "chunk": [], "index": []}
    for repeat in range(REPEATS):
        with Store(root / f"ingest{repeat}.db") as store:
            start = time.perf_counter()
            digest = sha256_file(pdf)
            hashed = time.perf_counter()
            extracted = extract(pdf)
            extracted_at = time.perf_counter()
            chunks = chunk(extracted)
            chunked = time.perf_counter()
            store.documents.add(extracted, sha256=digest, name=pdf.name,
                                size=pdf.stat().st_size, chunks=chunks)
            indexed = time.perf_counter()
        for phase, seconds in zip(phases, (hashed - start, extracted_at - hashed,
                                           chunked - extracted_at, indexed - chunked)):
            phases[phase].append(seconds)
    total = [sum(parts) for parts in zip(*phases.values())]
    result = {
        "pages": PAGES, "file_mb": round(pdf.stat().st_size / 1e6, 2),
        "chars": extracted.chars, "chunks": len(chunks),
        "approx_tokens": sum(c.approx_tokens for c in chunks),
        **{f"{phase}_ms": median_ms(samples) for phase, samples in phases.items()},
        "total_ms": median_ms(total),
        "pages_per_s": round(PAGES / statistics.median(total), 1),
    }
    return result, pdf


def bench_retrieval(root: Path, pdf: Path) -> dict:
    from app.core.documents import ingest

    with Store(root / "query.db") as store:
        doc = ingest(store, pdf)
        chat = store.conversations.create()
        user = store.messages.add(chat.id, "user", "read this")
        store.documents.attach(user.id, [doc.id])
        budget = N_CTX - output_reserve(N_CTX) - 500  # a short chat, a 16k window
        search, plans, hits, plan_hits, plan_tokens = [], [], 0, 0, []
        for _ in range(REPEATS):
            for page in FACT_PAGES:
                start = time.perf_counter()
                found = store.documents.search_chunks([doc.id], question(page), 400)
                search.append(time.perf_counter() - start)
                start = time.perf_counter()
                plan = plan_for_turn(store, None, chat.id, question(page), budget)
                plans.append(time.perf_counter() - start)
                hits += found[0][0].location.page == page
                plan_hits += any(p.location.get("page") == page  # lines wrap in a PDF
                                 and fact(page) in " ".join(p.text.split())
                                 for p in plan.passages)
                plan_tokens.append(plan.tokens)
        queries = REPEATS * len(FACT_PAGES)
        return {
            "queries": queries, "budget_tokens": budget,
            "search_median_ms": median_ms(search), "plan_median_ms": median_ms(plans),
            "best_passage_on_right_page": f"{hits}/{queries}",
            "fact_in_plan": f"{plan_hits}/{queries}",
            "plan_tokens_median": int(statistics.median(plan_tokens)),
            "note": "plan = search + loading the document's chunks + choosing; chars/4 counts",
        }


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="hearth-bench-documents-"))
    try:
        ingest, pdf = bench_ingest(root)
        results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                   "ingest": ingest, "retrieval": bench_retrieval(root, pdf)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    i, r = results["ingest"], results["retrieval"]
    print(f"Ingest {i['pages']}-page PDF ({i['file_mb']} MB, {i['chunks']} chunks, "
          f"~{i['approx_tokens']:,} tokens): {i['total_ms']} ms = hash {i['hash_ms']} + "
          f"extract {i['extract_ms']} + chunk {i['chunk_ms']} + index {i['index_ms']} "
          f"({i['pages_per_s']} pages/s)")
    print(f"Retrieval over {r['queries']} questions: search {r['search_median_ms']} ms, "
          f"whole plan {r['plan_median_ms']} ms (median); best passage on the right page "
          f"{r['best_passage_on_right_page']}, fact in the plan {r['fact_in_plan']}")
    out = ROOT / "bench-results" / "documents.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
