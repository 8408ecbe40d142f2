"""Take the README's screenshots from the real window, offscreen, with a fresh data folder and
the bundled starter model:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_screenshots.py [OUT_DIR]

Writes screenshot-welcome.png, screenshot-first-chat.png, screenshot-about.png,
screenshot-shortcuts.png (and screenshot-info.png) to OUT_DIR (default: docs/). Look at each
before committing: a model's answer differs from run to run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_fresh = Path(tempfile.mkdtemp(prefix="hearth-shots-"))
os.environ["HEARTH_DATA_DIR"] = str(_fresh / "data")  # a first start: nothing saved
os.environ["HOME"] = str(_fresh / "home")  # no models found in the real caches
for variable in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
    os.environ.pop(variable, None)

from app.gui import theme  # noqa: E402
from app.gui.main import configure  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.qt import QtCore, QtWidgets  # noqa: E402
from storage import Store  # noqa: E402

QUESTIONS = ("What is 2+2? Answer with the number.", "Give me three tips for a good night's sleep.")


def wait(app, until, timeout=60.0) -> None:
    timer = QtCore.QElapsedTimer()
    timer.start()
    while not until():
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if timer.elapsed() > timeout * 1000:
            raise TimeoutError("the window did not get there in time")


def settle(app, ms=400) -> None:
    timer = QtCore.QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    out.mkdir(parents=True, exist_ok=True)
    app = QtWidgets.QApplication(["hearth"])
    configure(app)
    theme.apply(app, "light")
    store = Store()
    win = MainWindow(store)
    win.resize(1180, 760)
    win.show()
    win.start()
    wait(app, lambda: win.welcome.entries is not None and "Looking" not in win.welcome.found_hint.text())
    settle(app)
    win.grab().save(str(out / "screenshot-welcome.png"))

    win.welcome.starter_button.click()
    wait(app, lambda: win.session.model is not None)
    for question in QUESTIONS:
        win.composer.edit.setPlainText(question)
        win.composer.button.click()
        wait(app, lambda: win.controller.busy)
        wait(app, lambda: not win.controller.busy, timeout=120)
    settle(app, 800)
    win.grab().save(str(out / "screenshot-first-chat.png"))

    answer = [w for w in win.chat_view.messages() if hasattr(w, "answer_text")][0]
    win.show_info(answer.message_id)
    settle(app)
    win.info_popover.grab().save(str(out / "screenshot-info.png"))
    win.info_popover.close()

    win.show_about()
    settle(app)
    win.about_dialog.grab().save(str(out / "screenshot-about.png"))
    win.about_dialog.close()
    win.show_shortcuts()
    settle(app)
    win.shortcuts_sheet.grab().save(str(out / "screenshot-shortcuts.png"))
    win.shortcuts_sheet.close()
    win.close()
    store.close()
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
