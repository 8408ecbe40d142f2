"""gpt-oss's own `python` tool: the call's text is code, run like a notebook cell.

One `PythonTool` per chat, one worker process per tool (python_worker.py), kept between calls
so that variables survive, as in the stateful Jupyter tool the model was trained with. The
worker runs sandboxed where the system allows (python_sandbox.py), in the chat's scratch
folder (`<data>/scratch/<chat id>`, /mnt/data to the model), within a time and a memory limit.
A run that is stopped — time limit, memory, Stop, a crash — ends the worker; the next call
starts a fresh one and says that the state was lost.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import uuid
from pathlib import Path

from app.core.tools import python_sandbox
from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from app.core.tools.python_process import Capture, Stopped, Worker, mode_for, start_worker
from app.core.tools.python_sandbox import DATA_INSIDE
from inference.harmony_tools import PYTHON

NO_OUTPUT = ("[WARN] No output available. Use print() to output anything to stdout to "
             "receive the output")  # what OpenAI's reference python tool answers
_MAX_FILES = 100


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
        self._worker: Worker | None = None
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
        yet shown what holds on this system. Mode "unavailable": Python cannot run here, and
        the text says why."""
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
            capture = Capture(self.output_bytes)
            try:
                self._worker.run(code, limit, context.cancel, capture, self.limits.memory_bytes)
            except Stopped as stopped:
                self._end_worker(stopped.reason)
                text = f"{stopped.reason[0].upper()}{stopped.reason[1:]}; its state is lost."
                if stopped.output.strip():
                    text += f"\n\nOutput before it stopped:\n{stopped.output}"
                raise ToolError(text) from None
            output = capture.text()
            if "/mnt/data" in output and self._worker.ready.get("cwd") != DATA_INSIDE:
                notes.append(f"[/mnt/data is not available on this system: the current "
                             f"folder, {scratch}, is the scratch folder.]")
            text = "\n".join([*notes, output or NO_OUTPUT])
            return ToolOutput(text=text, files=_changed(scratch, before))

    def close(self) -> None:
        self._closed = True
        running = self._worker
        if running is not None:
            running.kill_processes()  # a call in progress sees its worker end and returns
        with self._lock:
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

    def _start(self, scratch: Path, cancel: threading.Event) -> Worker:
        tmp = self._tmp_folder(scratch)
        shutil.rmtree(tmp, ignore_errors=True)  # each worker's /tmp starts empty
        tmp.mkdir(parents=True)
        return start_worker(mode_for(self.requested_mode), scratch, tmp, self.limits,
                            self.site_packages, cancel, fall_back=self.requested_mode == "auto")

    def _end_worker(self, reason: str) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
            self._lost = reason


_probed: dict[tuple, python_sandbox.Isolation] = {}


def probe(limits: python_sandbox.Limits, site_packages: bool = True,
          requested: str = "auto") -> python_sandbox.Isolation:
    """`isolation()` before any run: start a worker in a throwaway folder, read what held.
    Never raises: where Python cannot start, that is what the Isolation says."""
    key = (limits, site_packages, requested)
    if key not in _probed:
        mode = mode_for(requested)
        if mode == "unavailable":
            return python_sandbox.isolation(mode, "off", 0, limits)
        with tempfile.TemporaryDirectory(prefix="hearth-python-probe-") as folder:
            scratch, tmp = Path(folder, "scratch"), Path(folder, "tmp")
            scratch.mkdir()
            tmp.mkdir()
            try:
                worker = start_worker(mode, scratch, tmp, limits, site_packages,
                                      threading.Event(), fall_back=requested == "auto")
            except ToolError as exc:
                return python_sandbox.Isolation("unavailable", "off", True, str(exc))
            worker.kill()
        _probed[key] = worker.isolation(limits)
    return _probed[key]


def _listing(folder: Path, limit: int = 10_000) -> dict[str, tuple[int, int]]:
    """The scratch folder's plain files. Links are left out: the code could point one at a
    file of the person's, which the window would then show as the tool's."""
    found: dict[str, tuple[int, int]] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            found[path] = (st.st_mtime_ns, st.st_size)
            if len(found) >= limit:
                return found
    return found


def _changed(folder: Path, before: dict) -> tuple[str, ...]:
    after = _listing(folder)
    return tuple(sorted(p for p, stamp in after.items() if before.get(p) != stamp))[:_MAX_FILES]


