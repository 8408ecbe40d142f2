"""The library's screenshots for docs/: Settings → Library while a generated library indexes,
and an answer citing a library file with its passage open (the tiny gpt-oss, made by a
grammar to search the library and then answer with a citation).

Run: `.venv/bin/python tests/screenshots/library.py` (offscreen; writes
docs/screenshot-library-settings.png and docs/screenshot-library-citation.png).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "benchmarks")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SCRATCH = Path(tempfile.mkdtemp(prefix="hearth-shots-"))
os.environ["HEARTH_DATA_DIR"] = str(SCRATCH / "data")
os.environ["HOME"] = str(SCRATCH / "home")

from fixtures.gui import speak  # noqa: E402
from fixtures.library import write_hostile, write_library  # noqa: E402
from fixtures.tiny_models import write_tiny_gpt_oss  # noqa: E402
from library_corpus import build  # noqa: E402

from app.core.library.service import index_all  # noqa: E402
from app.gui import theme  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.qt import QtCore, QtGui, QtWidgets  # noqa: E402
from storage import Store  # noqa: E402

DOCS = ROOT / "docs"
ANSWER = "The survey counted **812 crevasses** in the northern basin [1]."
CITED = "\n".join([
    'root ::= analysis <|start|> "assistant" (call | final)',
    'analysis ::= <|channel|> "analysis" <|message|> "Search the library." <|end|>',
    'call ::= <|channel|> "commentary to=functions.search_documents " <|constrain|> "json" '
    '<|message|> "{\\"query\\":\\"crevasses northern basin\\",\\"folder\\":\\"Research\\",'
    '\\"limit\\":1}"',
    f'final ::= <|channel|> "final" <|message|> "{ANSWER}"', ""])


def wait(app, condition, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.01)


def settings_shot(app) -> None:
    store = Store()
    research = write_library(SCRATCH / "Research")
    write_hostile(research / "downloads")
    corpus = build(SCRATCH / "Archive", 3000, 30_000_000)
    window = MainWindow(store)
    window.resize(1100, 760)
    window.show()
    window.library.show_settings()
    dialog = window.library.settings
    dialog.add_folder(str(research))
    wait(app, lambda: window.library.runner.last.state == "idle"
         and window.library.runner.last.done >= 10)
    dialog.add_folder(str(corpus.root))
    wait(app, lambda: window.library.runner.last.state == "indexing"
         and window.library.runner.last.done > 900)
    dialog.folders.setCurrentItem(dialog.folders.topLevelItem(1))
    app.processEvents()
    dialog.grab().save(str(DOCS / "screenshot-library-settings.png"))
    print("library settings:", dialog.progress_label.text())
    window.close()
    store.close()


def citation_shot(app) -> None:
    os.environ["HEARTH_DATA_DIR"] = str(SCRATCH / "data-citation")
    store = Store()
    store.library.add_folder(write_library(SCRATCH / "cite" / "Research"))
    index_all(store)
    model = write_tiny_gpt_oss(SCRATCH / "tiny-gpt-oss.gguf")
    speak(store, model, CITED, temperature=1.0)
    window = MainWindow(store)
    window.resize(1100, 760)
    window.show()
    window.session.load(str(model))
    wait(app, lambda: window.session.model is not None)
    for _attempt in range(60):  # random weights: until one search, then the answer
        window.controller.new_conversation()
        busy = []
        window.controller.busy_changed.connect(busy.append)
        window.controller.send("How many crevasses did the glacier survey count?", "low")
        wait(app, lambda: busy and busy[-1] is False)
        answer = store.messages.thread(window.controller.conversation_id)[-1]
        calls = store.tool_calls.for_message(answer.id)
        if len(calls) == 1 and calls[0].status == "done" and ANSWER[:20] in answer.content:
            break
        store.conversations.delete(window.controller.conversation_id)  # one chat in the list
    else:
        raise SystemExit("no attempt searched once and then answered")
    window.refresh_conversations()
    window.controller.open_conversation(window.controller.conversation_id)
    app.processEvents()
    window.show_citation(answer.id, 1)
    box = window.citation_box
    box.resize(640, 330)
    app.processEvents()
    shot = window.grab()
    passage = box.grab()
    painter = QtGui.QPainter(shot)
    at = QtCore.QPoint(shot.width() - passage.width() - 24, shot.height() - passage.height() - 120)
    painter.fillRect(QtCore.QRect(at - QtCore.QPoint(2, 2), passage.size() + QtCore.QSize(4, 4)),
                     QtGui.QColor("#888"))
    painter.drawPixmap(at, passage)
    painter.end()
    shot.save(str(DOCS / "screenshot-library-citation.png"))
    print("citation:", box.windowTitle())
    window.close()
    store.close()


def main() -> None:
    app = QtWidgets.QApplication([])
    theme.apply(app, "light")
    try:
        settings_shot(app)
        citation_shot(app)
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


if __name__ == "__main__":
    main()
