"""gpt-oss's own `python` tool: the call's text is code, run like a notebook cell.

One `PythonTool` per chat, one worker process per tool (python_worker.py), kept between calls
so that variables survive, as in the stateful Jupyter tool the model was trained with. The
worker runs sandboxed where the system allows (python_sandbox.py), in the chat's scratch
folder (`<data>/scratch/<chat id>`, /mnt/data to the model), within a time and a memory limit.
A run that is stopped — time limit, memory, Stop, a crash — ends the worker; the next call
starts a fresh one and says that the state was lost.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from app.core.tools import python_sandbox
from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from inference.harmony_tools import PYTHON

NO_OUTPUT = ("[WARN] No output available. Use print() to output anything to stdout to "
             "receive the output")  # what OpenAI's reference python tool answers
STARTUP_S = 30.0  # far above a normal start (~0.1 s), for a loaded machine
_MEMORY_CHECK_S = 0.25
_MAX_FILES = 100

# Workers are started from one thread that lives as long as Hearth: bubblewrap's
# --die-with-parent and PR_SET_PDEATHSIG fire when the *thread* that started them ends.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="python-tool-spawn")
_broken_modes: dict[str, str] = {}  # mode → why it failed to start here (e.g. bwrap denied)


class _Stopped(Exception):
    """The worker was ended mid-run; `reason` is said to the model."""

    def __init__(self, reason: str, output: str = "") -> None:
        super().__init__(reason)
        self.reason, self.output = reason, output


class _Capture:
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


class _Worker:
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
        self._send(setup)
        self.ready = self._await(time.monotonic() + STARTUP_S, cancel, _Capture(8000), None)
        if not self.ready.get("ready"):
            raise _Stopped("it answered something else")

    def run(self, code: str, limit_s: float, cancel: threading.Event, capture: _Capture,
            memory_bytes: int) -> bool:
        """Run one cell; its output goes to `capture`. True when it raised nothing."""
        self._send({"code": code, "time_limit_s": limit_s})
        reply = self._await(time.monotonic() + limit_s, cancel, capture, memory_bytes, limit_s)
        return bool(reply.get("ok"))

    def _send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            while data:
                data = data[os.write(self._req, data):]
        except OSError as exc:
            raise _Stopped("the python process had ended") from exc

    def _await(self, deadline: float, cancel: threading.Event, capture: _Capture,
               memory_bytes: int | None, limit_s: float | None = None) -> dict:
        try:
            return self._collect(deadline, cancel, capture, memory_bytes, limit_s)
        except _Stopped as stopped:
            stopped.output = capture.text()
            raise

    def _collect(self, deadline: float, cancel: threading.Event, capture: _Capture,
                 memory_bytes: int | None, limit_s: float | None) -> dict:
        """Collect output until the worker's reply; stop it on cancel, time or memory."""
        next_memory_check = time.monotonic() + _MEMORY_CHECK_S
        while True:
            now = time.monotonic()
            if cancel.is_set():
                raise _Stopped("the run was stopped by the person")
            if now >= deadline:
                raise _Stopped(f"the code ran for {limit_s:g} s and was stopped" if limit_s
                               else "it did not start in time")
            if memory_bytes and now >= next_memory_check:
                next_memory_check = now + _MEMORY_CHECK_S
                if self.memory() > memory_bytes:
                    raise _Stopped(f"the code used more than {_size(memory_bytes)} of memory "
                                   "and was stopped")
            readable, _, _ = select.select([self._out, self._replies], [], [],
                                           min(0.1, deadline - now))
            if self._out in readable:
                self._drain(capture)
            if self._replies in readable:
                chunk = os.read(self._replies, 65536)
                if not chunk:
                    self._drain(capture)
                    raise _Stopped(f"the python process ended ({self._exit_status()})")
                self._pending += chunk
                if b"\n" in self._pending:
                    line, self._pending = self._pending.split(b"\n", 1)
                    # Everything the cell wrote was written before the reply: it is in the pipe.
                    self._drain(capture)
                    try:
                        return json.loads(line)
                    except ValueError:
                        raise _Stopped("the python process answered garbage") from None
                if len(self._pending) > 1 << 20:
                    raise _Stopped("the python process answered garbage")

    def _drain(self, capture: _Capture) -> None:
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

    def kill(self) -> None:
        """End the worker and everything it started (bubblewrap's namespace goes with it)."""
        family = self.processes()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for proc in family:
            try:
                proc.kill()
            except psutil.Error:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._req, self._replies, self._out):
            try:
                os.close(fd)
            except OSError:
                pass


class PythonTool:
    """The `python` tool of one chat. `sandbox`: "auto" (the strongest available), or one of
    python_sandbox's modes, for tests and for a setting."""

    spec = ToolSpec(name="python", namespace="python", parameters=None, approval="ask",
                    title="Python", description=PYTHON.description)

    def __init__(self, *, time_limit_s: float = 120.0, memory_bytes: int = 1 << 30,
                 file_bytes: int = 512 << 20, processes: int = 64, output_bytes: int = 16_000,
                 site_packages: bool = True, sandbox: str = "auto") -> None:
        self.limits = python_sandbox.Limits(time_s=time_limit_s, memory_bytes=memory_bytes,
                                            file_bytes=file_bytes, processes=processes)
        self.output_bytes = output_bytes
        self.site_packages = site_packages
        self.requested_mode = sandbox
        self._worker: _Worker | None = None
        self._folder: Path | None = None
        self._lost: str | None = None  # why the last worker ended, said on the next call
        self._key = f"unsaved-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._closed = False

    # -- what the person is told --------------------------------------------------------------

    def isolation(self) -> str:
        """A short plain sentence: how far the code is isolated here, right now (for the
        Tools menu and the call's block). The first call may take a fraction of a second."""
        return self.isolation_details().text

    def isolation_details(self) -> python_sandbox.Isolation:
        """The same as facts. Starts a throwaway worker (a tenth of a second) if no run has
        yet shown what holds on this system."""
        worker = self._worker
        if worker is None:
            return probe(self.limits, self.site_packages, self.requested_mode)
        return worker.isolation(self.limits)

    # -- the Tool interface ----------------------------------------------------------------

    def run(self, arguments, context: ToolContext) -> ToolOutput:
        code = arguments
        if isinstance(arguments, dict) and isinstance(arguments.get("code"), str):
            code = arguments["code"]  # the model sometimes wraps the code in JSON
        if not isinstance(code, str):
            raise ToolError("The python tool takes the code itself as the message.")
        with self._lock:
            if self._closed:
                raise ToolError("The python tool was closed.")
            scratch = self._scratch(context)
            notes = []
            if self._worker is not None and self._worker.proc.poll() is not None:
                self._end_worker("it exited between calls")
            if self._worker is None:
                self._worker = self._start(scratch, context.cancel)
                if self._lost:
                    notes.append(f"[Fresh python session: the previous one ended ({self._lost})"
                                 ", so its variables and imports are gone.]")
                    self._lost = None
            before = _listing(scratch)
            limit = min(self.limits.time_s, context.timeout_s)
            capture = _Capture(self.output_bytes)
            try:
                self._worker.run(code, limit, context.cancel, capture, self.limits.memory_bytes)
            except _Stopped as stopped:
                self._end_worker(stopped.reason)
                text = f"{stopped.reason[0].upper()}{stopped.reason[1:]}; its state is lost."
                if stopped.output.strip():
                    text += f"\n\nOutput before it stopped:\n{stopped.output}"
                raise ToolError(text) from None
            output = capture.text()
            if self._worker.ready.get("cwd") != python_sandbox.DATA_INSIDE and "/mnt/data" in output:
                notes.append(f"[/mnt/data is not available on this system: the current "
                             f"folder, {scratch}, is the scratch folder.]")
            text = "\n".join([*notes, output or NO_OUTPUT])
            return ToolOutput(text=text, files=_changed(scratch, before))

    def close(self) -> None:
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
        if self._folder is not None:
            shutil.rmtree(self._tmp_folder(self._folder), ignore_errors=True)

    # -- workers ----------------------------------------------------------------------------

    def _scratch(self, context: ToolContext) -> Path:
        key = self._key if context.conversation_id is None else str(context.conversation_id)
        folder = Path(context.data_dir) / "scratch" / key
        if folder != self._folder and self._worker is not None:
            self._end_worker("it belonged to another chat")
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def _tmp_folder(scratch: Path) -> Path:
        return scratch.parent / ".tmp" / scratch.name

    def _start(self, scratch: Path, cancel: threading.Event) -> _Worker:
        tmp = self._tmp_folder(scratch)
        shutil.rmtree(tmp, ignore_errors=True)  # each worker's /tmp starts empty
        tmp.mkdir(parents=True)
        return start_worker(_mode_for(self.requested_mode), scratch, tmp, self.limits, self.site_packages, cancel,
                            fall_back=self.requested_mode == "auto")

    def _end_worker(self, reason: str) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
            self._lost = reason


def _mode_for(requested: str) -> str:
    mode = python_sandbox.pick_mode(requested)
    if requested == "auto" and mode in _broken_modes:
        return "kernel"  # bubblewrap is installed but was refused earlier in this session
    return mode


def start_worker(mode: str, scratch: Path, tmp: Path, limits: python_sandbox.Limits,
                 site_packages: bool, cancel: threading.Event, fall_back: bool) -> _Worker:
    """A ready worker in `mode`; where bubblewrap is installed but refused (AppArmor, no user
    namespaces), the next mode down, remembered for the rest of the session."""
    launch = python_sandbox.launch(mode, scratch, tmp, limits, site_packages, _user_tasks())
    worker = _Worker(launch, mode)
    try:
        worker.start(launch.setup, cancel)
        return worker
    except _Stopped as stopped:
        worker.kill()
        if fall_back and mode == "bubblewrap" and not cancel.is_set():
            _broken_modes[mode] = stopped.output.strip()[-500:]
            return start_worker("kernel", scratch, tmp, limits, site_packages, cancel, True)
        detail = stopped.output.strip()[-2000:]
        raise ToolError(f"Python could not be started: {stopped.reason}."
                        + (f"\n{detail}" if detail else "")) from None


_probed: dict[tuple, python_sandbox.Isolation] = {}


def probe(limits: python_sandbox.Limits, site_packages: bool = True,
          requested: str = "auto") -> python_sandbox.Isolation:
    """`isolation()` before any run: start a worker in a throwaway folder, read what held."""
    key = (limits, site_packages, requested)
    if key not in _probed:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="hearth-python-probe-") as folder:
            scratch, tmp = Path(folder, "scratch"), Path(folder, "tmp")
            scratch.mkdir()
            tmp.mkdir()
            worker = start_worker(_mode_for(requested), scratch, tmp, limits, site_packages,
                                  threading.Event(), fall_back=requested == "auto")
            worker.kill()
        _probed[key] = worker.isolation(limits)
    return _probed[key]


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


def _listing(folder: Path, limit: int = 10_000) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            found[path] = (st.st_mtime_ns, st.st_size)
            if len(found) >= limit:
                return found
    return found


def _changed(folder: Path, before: dict) -> tuple[str, ...]:
    after = _listing(folder)
    return tuple(sorted(p for p, stamp in after.items() if before.get(p) != stamp))[:_MAX_FILES]


def _size(n: int) -> str:
    return f"{n / (1 << 30):g} GB" if n >= 1 << 30 else f"{n / (1 << 20):g} MB"
