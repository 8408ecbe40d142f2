"""kill -9, for real: a window and `hearth chat --save` killed mid-answer lose nothing.

Earlier messages stay intact; the partial answer is kept and marked interrupted — by the next
window or the next `hearth` that writes answers — with Continue offered in the window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.gui import ENDLESS, speak
from fixtures.tiny_models import HARMONY_GRAMMAR, write_tiny_gpt_oss

from app.core import model_library
from storage import INTERRUPTED_ERROR, Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def endless_model(tmp_path) -> Path:
    """The default model, writing until stopped (its 64k context is far off)."""
    model = write_tiny_gpt_oss(tmp_path / "long.gguf", context_length=65536)
    with Store() as store:
        model_library.set_default(store, model)
        speak(store, model, ENDLESS, n_ctx=65536)
    return model


def earlier_chat() -> list:
    """A finished exchange that must survive the kill byte for byte."""
    with Store() as store:
        chat = store.conversations.create("Earlier")
        user, answer = store.messages.add_turn(chat.id, "An earlier question")
        store.messages.update(answer.id, content="An earlier answer", status="complete")
        return [(m.id, m.content, m.status) for m in store.messages.list_for(chat.id)]


def wait_for(proc: subprocess.Popen, marker: bytes) -> None:
    seen = b""
    while marker not in seen:
        piece = proc.stdout.read1(256)
        assert piece, f"exited early: {proc.stderr.read().decode()[-2000:]}"
        seen += piece


def killed_answer() -> tuple:
    with Store() as store:
        for chat in store.conversations.list():
            if chat.title != "Earlier":
                return chat.id, store.messages.list_for(chat.id)[-1]
    raise AssertionError("no chat was started")


def earlier_now() -> list:
    with Store() as store:
        chat = next(c for c in store.conversations.list() if c.title == "Earlier")
        return [(m.id, m.content, m.status) for m in store.messages.list_for(chat.id)]


def kill_when_streaming(proc: subprocess.Popen, marker: bytes) -> None:
    try:
        wait_for(proc, marker)
        time.sleep(0.8)  # past a periodic save (twice a second)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()


def test_kill_9_of_hearth_chat_keeps_the_partial_answer_and_the_next_run_marks_it(endless_model):
    before = earlier_chat()
    proc = subprocess.Popen([sys.executable, "-u", "-m", "app.cli", "chat", "--save",
                             "Tell me everything"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    kill_when_streaming(proc, b"e")  # the answer is on stdout: ENDLESS writes letters
    _, answer = killed_answer()
    assert answer.status == "streaming" and answer.content  # what was saved before the kill
    with Store() as store:  # the next hearth that writes answers tidies up first
        speak(store, endless_model, HARMONY_GRAMMAR, n_ctx=65536)
    done = subprocess.run([sys.executable, "-m", "app.cli", "chat", "--save", "--max-tokens", "8",
                           "Hello again"], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    with Store() as store:
        marked = store.messages.get(answer.id)
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert marked.status == "failed" and marked.error == INTERRUPTED_ERROR
    assert marked.content.startswith(answer.content)
    assert earlier_now() == before


def test_kill_9_of_the_window_keeps_the_partial_answer_with_continue(qtbot, open_window, endless_model):
    before = earlier_chat()
    proc = subprocess.Popen([sys.executable, "-u", str(REPO / "tests" / "fixtures" / "window_child.py"),
                             "Tell me everything"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    kill_when_streaming(proc, b"STREAMING")
    conversation_id, answer = killed_answer()
    assert answer.status == "streaming" and answer.content

    win = open_window()  # the next start
    win.controller.open_conversation(conversation_id)
    shown = win.controller.message_widget(answer.id)
    assert shown is not None and shown.status == "failed"
    assert shown.answer_text == answer.content
    assert "Interrupted" in shown.footer.text()
    assert shown.actions.buttons["continue"].isVisibleTo(shown)
    assert earlier_now() == before
