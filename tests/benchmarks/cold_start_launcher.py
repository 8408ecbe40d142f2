"""Run by bench_cold_start.py, not on its own: `python -m app` with a stopwatch around it.

Imports app.gui.main, runs app.gui.main.main() unchanged, and watches from outside (an application-wide
event filter, nothing added to app/) for the main window's first Paint event; once that frame
is done (the next turn of the event loop) it prints the times as one JSON line and quits.
Times are time.monotonic() readings, which on Linux share one clock across processes.
"""

from __future__ import annotations

import json
import sys
import time

T_SCRIPT = time.monotonic()  # the interpreter is up and has run site
sys.path.insert(0, sys.argv[1])  # the repository root

import app.gui.main  # noqa: E402

T_IMPORTED = time.monotonic()

from PySide6 import QtCore, QtWidgets  # noqa: E402  (already imported by app.gui.main)

marks: dict[str, float] = {"script": T_SCRIPT, "imported": T_IMPORTED}


class FirstPaint(QtCore.QObject):
    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QtCore.QEvent.Type.Show and isinstance(obj, QtWidgets.QMainWindow):
            marks.setdefault("shown", time.monotonic())
        elif kind == QtCore.QEvent.Type.Paint and isinstance(obj, QtWidgets.QMainWindow):
            if "painted" not in marks:
                marks["painted"] = time.monotonic()
                QtCore.QTimer.singleShot(0, self.frame_done)
        return False

    def frame_done(self) -> None:
        marks["frame_done"] = time.monotonic()
        print(json.dumps(marks), flush=True)
        QtWidgets.QApplication.quit()


# main() uses an existing QApplication: made here, so the filter is in place before the window.
qt_app = QtWidgets.QApplication(sys.argv[:1])
marks["qapplication"] = time.monotonic()
watcher = FirstPaint()
qt_app.installEventFilter(watcher)
QtCore.QTimer.singleShot(30_000, qt_app.quit)  # never hang the benchmark
sys.exit(app.gui.main.main(sys.argv[:1]))
