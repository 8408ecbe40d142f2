"""Stop Python code running in the calling thread: at a deadline, on a cancel event, or when
the process's memory grows too much while it runs.

Used to render a GGUF's own Jinja chat template, which is untrusted code: Jinja compiles to
Python bytecode, so a loop in a template is a Python loop, and an exception raised
asynchronously in the rendering thread (`PyThreadState_SetAsyncExc`) lands between two
bytecodes and unwinds it. A single C call is not interrupted: the template sandbox bounds
those before they start (inference/template_sandbox.py).

One watchdog thread serves every guarded call: it sleeps until the nearest deadline, and looks
at cancel events and memory every POLL_S while a call runs. Arming costs an honest render
(about a millisecond) a lock and a set insertion, and no system call.

Safety of the asynchronous exception: the watchdog raises it only while the call is
registered, under the lock that `disarm` takes to unregister it, and at most twice (the
second a second later, should the first have been lost); `disarm` withdraws one that has
not landed yet. `guarded` catches them around the work and each `disarm`, so neither ever
surfaces in the caller once `guarded` returned. Code under a guard may also call
`check_guard`, a cheap synchronous test of the same stop.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar

T = TypeVar("T")

POLL_S = 0.01  # how often the watchdog looks at cancel events and memory during a guarded call
# A call still running this long after its stop was sent lost the exception (one that lands in
# a `__del__` is printed and dropped): it is sent once more, the last time.
REFIRE_S = 1.0

_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


class _Interrupt(BaseException):
    """Raised in the guarded thread. A BaseException, so no `except Exception` swallows it."""


class Stopped(Exception):
    """The guarded call was stopped. `reason`: "deadline", "cancelled" or "memory"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class Guard:
    """One guarded call."""

    deadline: float
    cancel: threading.Event | None = None
    memory_limit: int | None = None  # bytes the process may grow by
    tid: int = field(default_factory=threading.get_ident)
    reason: str | None = None  # why the watchdog stopped it
    fired: int = 0  # asynchronous exceptions sent: at most two, REFIRE_S apart
    fired_at: float = 0.0
    rss0: int | None = None  # memory in use at the watchdog's first look at this call

    def due(self, now: float) -> float:
        """When the watchdog must next look at this guard."""
        polled = self.cancel is not None or self.memory_limit is not None
        return min(self.deadline, now + POLL_S) if polled else self.deadline


def check_guard(guard: Guard) -> None:
    """Raise the stop the watchdog decided on, synchronously: cheap enough for code under the
    guard to call often, and another way out should the asynchronous exception be lost."""
    if guard.reason is not None:
        raise _Interrupt


def _memory_in_use() -> int:
    """Bytes of anonymous resident memory (file-backed pages, such as an mmap'd model, left
    out). Where /proc is missing (macOS), the peak resident size: growth past the old peak."""
    try:
        fields = os.pread(_statm_fd(), 256, 0).split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, IndexError, ValueError):
        pass
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_statm = {"fd": -1, "pid": None}


def _statm_fd() -> int:
    if _statm["pid"] != os.getpid():
        _statm["pid"] = os.getpid()
        try:
            _statm["fd"] = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            _statm["fd"] = -1
    if _statm["fd"] < 0:
        raise OSError("no /proc/self/statm")
    return _statm["fd"]


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._guards: set[Guard] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._wake_at = math.inf  # when the watchdog thread wakes up next by itself

    def arm(self, guard: Guard) -> None:
        # Nothing here releases the GIL (no system call): the watchdog thread, woken, would
        # take it, and an honest render would wait for the watchdog's round.
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # first use, or a forked child
                self._guards = set()
                self._pid = os.getpid()
                self._wake_at = math.inf
                self._thread = threading.Thread(target=self._run, name="hearth-watchdog",
                                                daemon=True)
                self._thread.start()
            self._guards.add(guard)
            if guard.due(time.monotonic()) < self._wake_at:
                self._wake.notify()

    def disarm(self, guard: Guard) -> None:
        with self._lock:
            self._guards.discard(guard)
            if guard.fired:
                _clear_async_exc(guard.tid, None)  # still pending if it has not landed yet

    def _run(self) -> None:
        with self._lock:
            while True:
                timeout = self._sweep()
                self._wake_at = math.inf if timeout is None else time.monotonic() + timeout
                self._wake.wait(timeout)

    def _sweep(self) -> float | None:
        """Fire at every guard that is due; return how long to sleep (None: until woken)."""
        now = time.monotonic()
        rss = None
        timeout = None
        for guard in self._guards:
            if guard.fired:
                if guard.fired == 1 and now >= guard.fired_at + REFIRE_S:
                    guard.fired = 2
                    _set_async_exc(guard.tid, _Interrupt)
                elif guard.fired == 1:
                    wait = guard.fired_at + REFIRE_S - now
                    timeout = wait if timeout is None else min(timeout, wait)
                continue
            reason = None
            if now >= guard.deadline:
                reason = "deadline"
            if reason is None and guard.cancel is not None and guard.cancel.is_set():
                reason = "cancelled"
            if reason is None and guard.memory_limit is not None:
                rss = _memory_in_use() if rss is None else rss
                if guard.rss0 is None:
                    guard.rss0 = rss  # at most POLL_S into the call
                elif rss - guard.rss0 > guard.memory_limit:
                    reason = "memory"
            if reason is not None:
                guard.reason = reason
                guard.fired, guard.fired_at = 1, now
                _set_async_exc(guard.tid, _Interrupt)
                timeout = REFIRE_S if timeout is None else min(timeout, REFIRE_S)
                continue
            wait = guard.due(now) - now
            timeout = wait if timeout is None else min(timeout, wait)
        return timeout


_watchdog = _Watchdog()


def guarded(work: Callable[[Guard], T], guard: Guard) -> T:
    """`work(guard)` in this thread, stopped by `guard`'s deadline, cancel event or memory
    limit: then `Stopped(reason)`. Not re-entrant: a guarded call must not start another."""
    try:
        try:
            _watchdog.arm(guard)
            return work(guard)
        finally:
            _watchdog.disarm(guard)
    except _Interrupt:
        while True:  # the second, late one may land in the first disarm, or in this one
            try:
                _watchdog.disarm(guard)
                break
            except _Interrupt:
                pass
        raise Stopped(guard.reason or "deadline") from None


def run_with_deadline(work: Callable[[Guard], T], seconds: float, *,
                      cancel: threading.Event | None = None,
                      memory_limit: int | None = None) -> T:
    return guarded(work, Guard(time.monotonic() + seconds, cancel, memory_limit))
