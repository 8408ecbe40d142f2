"""Hearth's log file: where a bug's traceback goes instead of in front of the user.

`<data folder>/logs/hearth.log`, rotated at 1 MB with three old files kept. The window logs
there all the time; the command line only writes a bug's details.
"""

from __future__ import annotations

import logging
import logging.handlers
import traceback
from pathlib import Path

MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("hearth")


def log_dir() -> Path:
    from storage import default_data_dir

    return default_data_dir() / "logs"


def log_path() -> Path:
    return log_dir() / "hearth.log"


def file_handler() -> logging.Handler | None:
    """A rotating handler on the log file; None where the folder cannot be written."""
    try:
        log_dir().mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(log_path(), maxBytes=MAX_BYTES,
                                                       backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def setup() -> Path | None:
    """For the window: INFO and above to stderr and to the log file."""
    root = logging.getLogger()
    if not any(getattr(h, "_hearth", False) for h in root.handlers):
        logging.basicConfig(level=logging.INFO, format=FORMAT)
        handler = file_handler()
        if handler is not None:
            handler._hearth = True  # type: ignore[attr-defined]
            root.addHandler(handler)
    return log_path()


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def record_bug(exc: BaseException, context: str = "") -> Path | str:
    """Write `exc` with its traceback to the log file; the path, or why it could not be written."""
    handler = file_handler()
    if handler is None:
        return "(the log folder cannot be written)"
    record = logging.LogRecord("hearth", logging.ERROR, __file__, 0,
                               f"bug{': ' + context if context else ''}\n{describe(exc)}", None, None)
    try:
        handler.emit(record)
    finally:
        handler.close()
    return log_path()
