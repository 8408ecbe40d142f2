"""Done once the window is up, so that a streaming answer never waits on it: the garbage
collector stops walking start-up's objects, and the common code lexers are built."""

from __future__ import annotations

import gc
import threading

from app.core import markdown_code


def after_start() -> threading.Thread:
    """Call on the GUI thread once the window is shown; returns the lexer-building thread."""
    # Modules, classes and the window live as long as the app. Left to the collector, each full
    # collection walked them all (~95,000 objects: 100-190 ms on this 2-core machine), and one
    # fell on the GUI thread every few seconds while an answer streamed.
    gc.freeze()
    thread = threading.Thread(target=markdown_code.warm, name="hearth-warm-lexers", daemon=True)
    thread.start()
    return thread
