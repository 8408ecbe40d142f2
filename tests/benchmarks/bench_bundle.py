"""The packaged app: its size, and how long it takes from launch to a window that answers.

Run after `make package`: `.venv/bin/python tests/benchmarks/bench_bundle.py [dist/hearth]`.
Prints a table and writes bench-results/bundle.json.

Start-up is measured from outside, the same way for the bundle and for `python -m app`: from
just before the process is spawned to the first reply on its single-instance socket. The
window answers once its event loop runs, right after `show()` queued its first paint, so this
is the launch → window time a person sees (bench_cold_start.py's in-process first-paint
figure for `python -m app` is within a few milliseconds of it). Each launch gets a fresh HOME
and data folder (a first start: the welcome page) and the offscreen platform; the first
launch may read files the OS has not cached, so the median of the rest is the figure quoted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from fixtures.desktop import stop, wait_answering  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

LAUNCHES = 6


def size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def launch(cmd: list[str], cwd: Path, extra_env: dict | None = None) -> float:
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-bundle-home-"))
    data = Path(tempfile.mkdtemp(prefix="hearth-bench-bundle-data-"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "HEARTH_DATA_DIR": str(data),
           "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8", **(extra_env or {})}
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_answering(data, proc, timeout=60)
        return time.monotonic() - start
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def timed(cmd: list[str], cwd: Path) -> float:
    home = Path(tempfile.mkdtemp(prefix="hearth-bench-bundle-home-"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "HEARTH_DATA_DIR": str(home / "data")}
    start = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True, timeout=120)
    took = time.monotonic() - start
    shutil.rmtree(home, ignore_errors=True)
    return took


def main(argv: list[str]) -> None:
    bundle = Path(argv[0] if argv else ROOT / "dist" / "hearth").resolve()
    if not (bundle / "hearth-gui").is_file():
        raise SystemExit(f"no bundle at {bundle}: run `make package` first")
    results = {"machine": machine(), "code": code_version(), "bundle": str(bundle)}
    internal = bundle / "_internal"
    parts = sorted(((size(p) if p.is_dir() else p.stat().st_size, p.name)
                    for p in internal.iterdir() if not p.is_symlink()), reverse=True)
    results["size_mb"] = round(size(bundle) / 1e6, 1)
    results["files"] = sum(1 for _ in bundle.rglob("*"))
    results["largest_mb"] = {name: round(s / 1e6, 1) for s, name in parts[:12]}
    with Contention() as contention:
        gui = [launch([str(bundle / "hearth-gui")], bundle) for _ in range(LAUNCHES)]
        source = [launch([sys.executable, "-m", "app"], ROOT, {"PYTHONPATH": str(ROOT)})
                  for _ in range(LAUNCHES)]
        cli = [timed([str(bundle / "hearth"), "models", "list"], bundle) for _ in range(3)]
    results["contention"] = contention.report()
    ms = lambda xs: {"first": round(xs[0] * 1000), "median_of_rest": round(  # noqa: E731
        statistics.median(xs[1:]) * 1000)}
    results["launch_to_window_ms"] = {"bundle": ms(gui), "python -m app": ms(source)}
    results["cli_models_list_ms"] = round(statistics.median(cli) * 1000)

    print(f"bundle {bundle}: {results['size_mb']} MB in {results['files']} files; largest parts:")
    for name, mb in results["largest_mb"].items():
        print(f"  {mb:7.1f} MB  {name}")
    print(f"{'launch → window answering':<30}{'first':>8}{'median':>8}   (ms; {LAUNCHES - 1} warm)")
    for key, value in results["launch_to_window_ms"].items():
        print(f"  {key:<28}{value['first']:>8}{value['median_of_rest']:>8}")
    print(f"hearth models list (bundle): {results['cli_models_list_ms']} ms")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "bundle.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
