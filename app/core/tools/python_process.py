"""The python tool's worker process, seen from Hearth: starting it in a sandbox mode, one
cell at a time over its pipes (python_worker.py has the other end), its output collected
within bounds, and its end — on Stop, at the time limit, over the memory limit.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from app.core.tools import python_sandbox
from app.core.tools.base import ToolError

STARTUP_S = 30.0  # far above a normal start (~0.1 s), for a loaded machine
_MEMORY_CHECK_S = 0.5  # each look walks the process table

# Workers are started from one thread that lives as long as Hearth: bubblewrap's
# --die-with-parent and PR_SET_PDEATHSIG fire when the *thread* that started them ends.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="python-tool-spawn")
broken_modes: dict[str, str] = {}  # mode → why it failed to start here (e.g. bwrap refused)


class Stopped(Exception):
    """The worker was ended mid-run; `reason` is said to the model."""

    def __init__(self, reason: str, output: str = "") -> None:
        super().__init__(reason)
        self.reason, self.output = reason, output


class Capture:
    """The output of one run, bounded: its beginning and its end, with the middle cut."""

    def __init__(self, limit_bytes: int) -> None:
        self.head, self.tail, self.total = bytearray(), bytearray(), 0
        self.half = max(limit_bytes // 2, 1)

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        del self.tail[:-self.half]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if cut <= 0:
            return head + tail
        return f"{head}\n[… {cut:,} bytes of output cut …]\n{tail}"


class Worker:
    """One running worker: its process, its three pipes, what it reported at start."""

    def __init__(self, launch: python_sandbox.Launch, mode: str) -> None:
        self.mode = mode
        req_r, self._req = os.pipe()
        self._replies, rep_w = os.pipe()
        self._out, out_w = os.pipe()
        try:
            self.proc = _spawner.submit(
                subprocess.Popen, launch.argv, stdin=req_r, stdout=rep_w, stderr=out_w,
                env=launch.env, cwd="/", start_new_session=True).result()
        except OSError as exc:
            for fd in (self._req, self._replies, self._out):
                os.close(fd)
            raise ToolError(f"Python could not be started: {exc}") from exc
        finally:
            for fd in (req_r, rep_w, out_w):
                os.close(fd)
        os.set_blocking(self._out, False)
        self._pending = b""
        self.ready: dict = {}

    def start(self, setup: dict, cancel: threading.Event) -> None:
        capture = Capture(8000)
        self._send(setup, capture)
        self.ready = self._await(time.monotonic() + STARTUP_S, cancel, capture, None)
        if not self.ready.get("ready"):
            raise Stopped("it answered something else")

    def run(self, code: str, limit_s: float, cancel: threading.Event, capture: Capture,
            memory_bytes: int) -> bool:
        """Run one cell; its output goes to `capture`. True when it raised nothing."""
        self._send({"code": code, "time_limit_s": limit_s}, capture)
        reply = self._await(time.monotonic() + limit_s, cancel, capture, memory_bytes, limit_s)
        return bool(reply.get("ok"))

    def _send(self, message: dict, capture: Capture) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._req, data):]
        except OSError:
            status = self._exit_status()  # it has ended: what it wrote last says why
            self._drain(capture)
            raise Stopped(f"the python process ended ({status})", capture.text()) from None

    def _await(self, deadline: float, cancel: threading.Event, capture: Capture,
               memory_bytes: int | None, limit_s: float | None = None) -> dict:
        try:
            return self._collect(deadline, cancel, capture, memory_bytes, limit_s)
        except Stopped as stopped:
            stopped.output = capture.text()
            raise

    def _collect(self, deadline: float, cancel: threading.Event, capture: Capture,
                 memory_bytes: int | None, limit_s: float | None) -> dict:
        """Collect output until the worker's reply; stop it on cancel, time or memory."""
        next_memory_check = time.monotonic() + _MEMORY_CHECK_S
        while True:
            now = time.monotonic()
            if cancel.is_set():
                raise Stopped("the run was stopped by the person")
            if now >= deadline:
                raise Stopped(f"the code ran for {limit_s:g} s and was stopped" if limit_s
                               else "it did not start in time")
            if memory_bytes and now >= next_memory_check:
                next_memory_check = now + _MEMORY_CHECK_S
                if self.memory() > memory_bytes:
                    size = python_sandbox.size_text(memory_bytes)
                    raise Stopped(f"the code used more than {size} of memory and was stopped")
            readable, _, _ = select.select([self._out, self._replies], [], [],
                                           min(0.1, deadline - now))
            if self._out in readable:
                self._drain(capture)
            if self._replies in readable:
                chunk = os.read(self._replies, 65536)
                if not chunk:
                    self._drain(capture)
                    raise Stopped(f"the python process ended ({self._exit_status()})")
                self._pending += chunk
                if b"\n" in self._pending:
                    line, self._pending = self._pending.split(b"\n", 1)
                    # Everything the cell wrote was written before the reply: it is in the pipe.
                    self._drain(capture)
                    try:
                        return json.loads(line)
                    except ValueError:
                        raise Stopped("the python process answered garbage") from None
                if len(self._pending) > 1 << 20:
                    raise Stopped("the python process answered garbage")

    def _drain(self, capture: Capture) -> None:
        while True:
            try:
                chunk = os.read(self._out, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            capture.add(chunk)

    def _exit_status(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        if self.mode == "bubblewrap" and code > 128:
            return f"killed by {signal.Signals(code - 128).name}"
        return f"exit code {code}"

    def isolation(self, limits: python_sandbox.Limits) -> python_sandbox.Isolation:
        return python_sandbox.isolation(self.mode, self.ready.get("network", "on"),
                                        self.ready.get("landlock", 0), limits)

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def memory(self) -> int:
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        return total

    def kill_processes(self) -> None:
        """SIGKILL the worker and everything it started (bubblewrap's namespace goes with it).
        Signals only: safe while another thread waits on the pipes."""
        family = self.processes()
        if self.proc.poll() is None:  # once reaped, its number may belong to another group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        for proc in family:
            try:
                proc.kill()
            except psutil.Error:
                pass

    def kill(self) -> None:
        """End the worker and free its pipes."""
        self.kill_processes()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._req, self._replies, self._out):
            try:
                os.close(fd)
            except OSError:
                pass


def mode_for(requested: str) -> str:
    mode = python_sandbox.pick_mode(requested)
    if requested == "auto" and mode in broken_modes:
        return "kernel"  # bubblewrap is installed but was refused earlier in this session
    return mode


def start_worker(mode: str, scratch: Path, tmp: Path, limits: python_sandbox.Limits,
                 site_packages: bool, cancel: threading.Event, fall_back: bool) -> Worker:
    """A ready worker in `mode`; where bubblewrap is installed but refused (AppArmor, no user
    namespaces), the next mode down, remembered for the rest of the session."""
    launch = python_sandbox.launch(mode, scratch, tmp, limits, site_packages, _user_tasks())
    worker = Worker(launch, mode)
    try:
        worker.start(launch.setup, cancel)
        return worker
    except Stopped as stopped:
        worker.kill()
        if fall_back and mode == "bubblewrap" and not cancel.is_set():
            broken_modes[mode] = stopped.output.strip()[-500:]
            return start_worker("kernel", scratch, tmp, limits, site_packages, cancel, True)
        detail = stopped.output.strip()[-2000:]
        raise ToolError(f"Python could not be started: {stopped.reason}."
                        + (f"\n{detail}" if detail else "")) from None


def _user_tasks() -> int | None:
    """Threads the person's user id runs now: RLIMIT_NPROC counts them all, ours included."""
    if not hasattr(os, "getuid"):
        return None
    uid, total = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        uids = proc.info.get("uids")
        if uids is not None and uids.real == uid:
            total += proc.info.get("num_threads") or 1
    return total

