"""Route llama.cpp's log to Python logging, and remember its last errors for messages.

llama.cpp prints to stderr by default, and says *why* a file failed to load only there
("tensor 'blk.0.attn_q.weight' data is not within the file bounds"). We keep the last few
error lines so a failed load can tell the user the reason.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import threading

import llama_cpp

log = logging.getLogger("llama.cpp")

# ggml_log_level: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the last line).
# llama.cpp warns about normal things (gpt-oss token attributes, the SWA cache): INFO for us.
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}

_recent_errors: collections.deque[str] = collections.deque(maxlen=8)
_lock = threading.Lock()
_last_level = logging.DEBUG
_installed = False


@llama_cpp.llama_log_callback
def _on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    global _last_level
    py_level = _last_level if level == 5 else _LEVELS.get(level, logging.DEBUG)
    _last_level = py_level
    line = text.decode("utf-8", errors="replace").rstrip()
    if not line:
        return
    if py_level >= logging.ERROR:
        with _lock:
            _recent_errors.append(line)
    if log.isEnabledFor(py_level):
        log.log(py_level, "%s", line)


def install() -> None:
    """Take over llama.cpp's log (once per process; the callback must outlive every model)."""
    global _installed
    if not _installed:
        llama_cpp.llama_log_set(_on_log, ctypes.c_void_p(0))
        _installed = True


def take_recent_errors() -> list[str]:
    with _lock:
        lines = list(_recent_errors)
        _recent_errors.clear()
    return lines
