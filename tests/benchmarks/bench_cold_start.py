"""Cold start: launch to the main window painted (target ≤ 1 s), and what the imports cost.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_cold_start.py`). Prints a table
and writes bench-results/cold_start.json.

Each launch is a new process running app.gui.main.main() exactly as `python -m app` does, through
tests/benchmarks/cold_start_launcher.py, which only watches (an event filter) for the first
Paint of the main window. Every launch gets a fresh HEARTH_DATA_DIR and HOME (a first start:
empty database, migrations, the welcome screen) and QT_QPA_PLATFORM=offscreen. The time runs
from just before the process is spawned to the end of the window's first frame; the first
launch of a run may read files the OS has not cached yet, so the median of the others is the
figure compared with the target. Then `python -X importtime -c "import app.gui.main"` names the
heaviest imports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from machine import Contention, code_version, machine, note  # noqa: E402

PY = sys.executable
LAUNCHER = Path(__file__).with_name("cold_start_launcher.py")
LAUNCHES = 6
TARGET_S = 1.0


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME",
                        "XDG_CONFIG_HOME", "XDG_DATA_HOME", "PYTHONPROFILEIMPORTTIME")}
    env["HEARTH_DATA_DIR"] = tempfile.mkdtemp(prefix="hearth-bench-cold-data-")
    env["HOME"] = tempfile.mkdtemp(prefix="hearth-bench-cold-home-")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def launch() -> dict:
    env = clean_env()
    start = time.monotonic()
    proc = subprocess.run([PY, str(LAUNCHER), str(ROOT)], env=env, capture_output=True,
                          text=True, timeout=60)
    exited = time.monotonic()
    for folder in (env["HEARTH_DATA_DIR"], env["HOME"]):
        shutil.rmtree(folder, ignore_errors=True)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"the launcher printed no times (rc {proc.returncode}):\n{proc.stderr}")
    marks = json.loads(line)
    ms = lambda key: round((marks[key] - start) * 1000)  # noqa: E731
    return {"interpreter_ms": ms("script"), "import_app_main_ms": ms("imported") - ms("script"),
            "qapplication_ms": ms("qapplication") - ms("imported"),
            "main_to_shown_ms": ms("shown") - ms("qapplication"),
            "shown_to_painted_ms": ms("frame_done") - ms("shown"),
            "launch_to_painted_ms": ms("frame_done"),
            "launch_to_exit_ms": round((exited - start) * 1000)}


def import_times() -> dict:
    """`-X importtime` of app.gui.main: self time by top-level package, and the heaviest modules."""
    env = clean_env()
    proc = subprocess.run([PY, "-X", "importtime", "-c", "import app.gui.main"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    for folder in (env["HEARTH_DATA_DIR"], env["HOME"]):
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    by_package: dict[str, int] = {}
    for self_us, _, _, name in rows:
        by_package[name.split(".")[0]] = by_package.get(name.split(".")[0], 0) + self_us
    total = next(cum for _, cum, _, name in rows if name == "app.gui.main")
    # Imports made directly by Hearth's own modules, by cumulative time
    direct = []
    for i, (_, cum, depth, name) in enumerate(rows):
        parent = next((rows[j][3] for j in range(i + 1, len(rows)) if rows[j][2] < depth), "")
        if parent.split(".")[0] in ("app", "inference", "storage") and \
                name.split(".")[0] not in ("app", "inference", "storage"):
            direct.append((cum, name, parent))
    direct.sort(reverse=True)
    seen, top_direct = set(), []
    for cum, name, parent in direct:
        if name not in seen:
            seen.add(name)
            top_direct.append({"module": name, "imported_by": parent, "cumulative_ms": round(cum / 1000)})
    return {"import_app_main_ms": round(total / 1000),
            "self_ms_by_package": {k: round(v / 1000) for k, v in
                                   sorted(by_package.items(), key=lambda kv: -kv[1])[:12]},
            "heaviest_imports_by_hearth": top_direct[:12]}


def main() -> None:
    results = {"machine": machine(), "code": code_version(), "target_ms": TARGET_S * 1000}
    with Contention() as contention:
        runs = [launch() for _ in range(LAUNCHES)]
    results["contention"] = contention.report()
    results["first_launch"] = runs[0]
    results["median_of_rest"] = {k: statistics.median(r[k] for r in runs[1:]) for k in runs[0]}
    results["imports"] = import_times()

    print(f"{'launch → window painted':<28}{'first':>8}{'median':>8}   (ms; {LAUNCHES - 1} warm launches)")
    for key, label in (("interpreter_ms", "  interpreter start"),
                       ("import_app_main_ms", "  import app.gui.main"),
                       ("qapplication_ms", "  QApplication()"),
                       ("main_to_shown_ms", "  main() → window shown"),
                       ("shown_to_painted_ms", "  shown → first frame"),
                       ("launch_to_painted_ms", "total"),
                       ("launch_to_exit_ms", "  (to process exit)")):
        print(f"{label:<28}{runs[0][key]:>8}{results['median_of_rest'][key]:>8.0f}")
    total = results["median_of_rest"]["launch_to_painted_ms"]
    print(f"target ≤ {TARGET_S * 1000:.0f} ms: {'ok' if total <= TARGET_S * 1000 else 'MISSED'}")
    imports = results["imports"]
    print(f"-X importtime, import app.gui.main: {imports['import_app_main_ms']} ms; self time by package:")
    print("  " + ", ".join(f"{k} {v}" for k, v in imports["self_ms_by_package"].items()))
    print("heaviest imports made by Hearth's modules (cumulative ms):")
    for row in imports["heaviest_imports_by_hearth"]:
        print(f"  {row['cumulative_ms']:>6}  {row['module']:<34} from {row['imported_by']}")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "cold_start.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
