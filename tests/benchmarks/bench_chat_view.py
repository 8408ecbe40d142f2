"""Opening a long conversation: a 500-message chat with Markdown answers, offscreen.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_chat_view.py`). Prints the
times and writes bench-results/chat_view.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HEARTH_DATA_DIR"] = tempfile.mkdtemp(prefix="hearth-bench-view-")

from PySide6 import QtWidgets  # noqa: E402

from app.gui import theme  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from storage import Store  # noqa: E402

ANSWER = ("Here is how:\n\n```python\nfor i in range(10):\n    print(i)\n```\n\n"
          "| a | b |\n|---|---|\n| 1 | 2 |\n\nSome **bold** text and $x^2$ math. " * 2)


def main() -> None:
    app = QtWidgets.QApplication([])
    theme.apply(app, "light")
    store = Store()
    cid = store.conversations.create("Long").id
    for i in range(250):
        store.messages.add(cid, "user", f"Question {i}: how do loops work?")
        store.messages.add(cid, "assistant", ANSWER)
    window = MainWindow(store)
    window.resize(1100, 800)
    window.show()
    app.processEvents()
    opens, earlier = [], []
    for _ in range(5):
        start = time.perf_counter()
        window.controller.open_conversation(cid)
        app.processEvents()  # layout and first paint
        opens.append(time.perf_counter() - start)
        start = time.perf_counter()
        window.chat_view.earlier_button.click()
        app.processEvents()
        earlier.append(time.perf_counter() - start)
    results = {"messages": 500, "open_ms": round(statistics.median(opens) * 1000, 1),
               "show_earlier_30_ms": round(statistics.median(earlier) * 1000, 1)}
    print(f"Open a 500-message chat (last 30 shown): {results['open_ms']} ms; "
          f"30 earlier messages: {results['show_earlier_30_ms']} ms")
    window.controller.shutdown()
    out = ROOT / "bench-results" / "chat_view.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
