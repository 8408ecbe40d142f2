"""The README's tool screenshot, from the real window offscreen, with a fresh data folder:

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_tool_screenshot.py [OUT_DIR]

An earlier answer that used two tools (stored as a gpt-oss turn would store it: its calls,
results and timings), one block folded and one opened; then a live turn on the tiny test model,
made by a grammar to call python, waiting in its block for approval. Writes
screenshot-tools.png. Look at it before committing.
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

from fixtures.gui import speak  # noqa: E402
from fixtures.tiny_models import write_tiny_gpt_oss  # noqa: E402

from app.core.provenance import Provenance  # noqa: E402
from app.core.tools import registry as tool_registry  # noqa: E402
from app.gui import theme  # noqa: E402
from app.gui.main import configure  # noqa: E402
from app.gui.main_window import MainWindow  # noqa: E402
from app.gui.qt import QtCore, QtWidgets  # noqa: E402
from storage import Store  # noqa: E402

PYTHON = "\n".join([
    'root ::= analysis <|start|> "assistant" call',
    'analysis ::= <|channel|> "analysis" <|message|> "Let me compute that." <|end|>',
    'call ::= <|channel|> "analysis to=python code" <|message|> '
    '"import statistics\\nstatistics.median([12, 7, 31, 18, 4])"', ""])


def pump(app, ms: int) -> None:
    timer = QtCore.QElapsedTimer()
    timer.start()
    while timer.elapsed() < ms:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)


def stored_turn(store: Store) -> int:
    chat = store.conversations.create("What is 17.5% of 2,340?")
    user, answer = store.messages.add_turn(chat.id, "What is 17.5% of 2,340, and what day is it?",
                                           effort="medium", model_name="gpt-oss-20b")
    calls = [("functions.calculator", '{"expression":"2340 * 17.5 / 100"}', "409.5", 0.002),
             ("functions.current_time", "{}", "Saturday, 28 November 2026, 23:41:07 CET "
              "(UTC+01:00). ISO 8601: 2026-11-28T23:41:07+01:00", 0.001)]
    for seq, (recipient, args, result, took) in enumerate(calls):
        row = store.tool_calls.add(answer.id, seq, recipient=recipient, arguments=args,
                                   channel="commentary", content_type="json", constrained=True,
                                   call_id=f"call_{seq}", reasoning="Use the tools.")
        store.tool_calls.update(row.id, status="done", result=result, started=True, duration_s=took)
    made = Provenance(effort="medium", seed=1234, prompt_sha256="0" * 64, generated_tokens=96,
                      ttft_s=0.21, decode_tps=118.4, reasoning_s=1.6, reasoning_tokens=41)
    store.messages.update(answer.id, status="complete", stats=made.to_json(),
                          reasoning="The user wants 17.5% of 2,340 and today's date. I'll use "
                                    "the calculator for exact arithmetic and the clock for the day.",
                          content="**17.5% of 2,340 is 409.5.**\n\nToday is Saturday, 28 November 2026.")
    return chat.id


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    app = QtWidgets.QApplication(["hearth"])
    configure(app)
    theme.apply(app, "light")
    model = write_tiny_gpt_oss(_fresh / "gpt-oss-tiny.gguf")
    with Store() as store:
        stored_turn(store)
        speak(store, model, PYTHON)
    store = Store()
    win = MainWindow(store)
    win.resize(1180, 820)
    win.show()
    win.session.load(str(model))
    pump(app, 1500)
    chat = store.conversations.list()[0].id
    tool_registry.set_chat_keys(store, chat, ["calculator", "current_time", "python"])
    win.controller.open_conversation(chat)
    answer = [w for w in win.chat_view.messages() if hasattr(w, "tools")][-1]
    answer.tools.blocks[1].toggle.click()  # one folded, one open
    pump(app, 500)
    win.composer.edit.setPlainText("And the median of 12, 7, 31, 18 and 4?")
    win.composer.button.click()
    for _ in range(200):
        pump(app, 50)
        live = [w for w in win.chat_view.messages() if hasattr(w, "tools")][-1]
        if 0 in live.tools.blocks and live.tools.blocks[0].approval.isVisible():
            break
    pump(app, 300)
    win.chat_view.verticalScrollBar().setValue(win.chat_view.verticalScrollBar().maximum())
    pump(app, 300)
    path = out / "screenshot-tools.png"
    win.grab().save(str(path))
    print(path)
    win.controller.stop()
    pump(app, 500)
    win.close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
