"""Shared by the bench_*.py scripts: what the machine is, and how busy the rest of it was.

On a small machine another process (a test run, a build) can double a timing. `Contention`
measures the CPU time every other process used while a benchmark ran (from /proc/stat, less
this process's own CPU time and its children's), so a result can say it was taken on a busy
machine instead of looking like a regression.
"""

from __future__ import annotations

import os
import platform
import time


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}"


def _busy_s() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Contention:
    """`with Contention() as c: ...`; then c.report(): CPU seconds others used, as a share."""

    def __enter__(self) -> Contention:
        self._start = (time.monotonic(), _busy_s(), _own_s())
        return self

    def __exit__(self, *exc) -> None:
        self._end = (time.monotonic(), _busy_s(), _own_s())

    def report(self) -> dict:
        (t0, b0, o0), (t1, b1, o1) = self._start, self._end
        if b0 is None or b1 is None:
            return {}
        others = max(0.0, (b1 - b0) - (o1 - o0))
        wall = t1 - t0
        return {"wall_s": round(wall, 1), "other_processes_cpu_s": round(others, 1),
                "other_processes_share_of_machine": round(others / (wall * (os.cpu_count() or 1)), 2)}


def note(report: dict) -> str:
    """One line for the printed table: how busy the rest of the machine was."""
    if not report:
        return "contention: unknown (no /proc/stat)"
    share = report["other_processes_share_of_machine"]
    line = (f"contention: other processes used {report['other_processes_cpu_s']} CPU s "
            f"({share:.0%} of the machine) during this {report['wall_s']} s run")
    return line + ("  ← BUSY MACHINE: timings inflated, run again when idle" if share > 0.05 else "")


def code_version() -> str:
    """The commit measured, and the files changed on top of it (others edit the tree too)."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "inference", "storage"],
                               cwd=root, text=True, capture_output=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")
