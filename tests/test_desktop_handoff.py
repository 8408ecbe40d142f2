"""Files from the desktop: given on the command line, handed from a second launch to the
running Hearth over its socket, or opened by macOS (QFileOpenEvent), they arrive as
attachments in a new chat; `--ask` sends a question there once the model is ready.

The two-process tests start real Hearth processes (`python -m app`, offscreen) on this test's
data folder and check what lands in its database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from fixtures.desktop import answers, attached, hand_over, query, stop, wait_answering, wait_for
from fixtures.gui import speak

from app.core import model_library
from app.gui.desktop import Desktop, parse_launch
from app.gui.qt import QtGui, QtWidgets
from app.gui.single_instance import Request, SingleInstance
from storage import Store, default_data_dir

ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}


def test_the_launch_arguments_become_a_request(tmp_path):
    assert parse_launch(["notes.txt", "--ask", "Sum it up", str(tmp_path / "b.pdf")],
                        cwd=str(tmp_path)) == Request(
        files=(str(tmp_path / "notes.txt"), str(tmp_path / "b.pdf")), ask="Sum it up")
    assert parse_launch(["--quick-ask"]) == Request(quick_ask=True)
    assert parse_launch(["--hidden"]).hidden
    # what a window cannot complain about on a terminal is ignored, never a crash
    assert parse_launch(["--no-such-option", "--ask"]) == Request()
    assert parse_launch(["--ask", "   "]) == Request()


def test_a_second_process_hands_its_request_to_the_first(qtbot, tmp_path):
    first = SingleInstance(default_data_dir())
    assert first.acquire()
    got = []
    first.on_activation(got.append)
    doc = tmp_path / "report.md"
    code = ("import sys\n"
            "from app.gui.qt import QtCore\n"
            "app = QtCore.QCoreApplication([])\n"
            "from app.gui.single_instance import Request, SingleInstance\n"
            "from storage import default_data_dir\n"
            "print(SingleInstance(default_data_dir()).notify_running_instance("
            "Request(files=(sys.argv[1],), ask='Summarize', quick_ask=True)))\n")
    second = subprocess.Popen([sys.executable, "-c", code, str(doc)], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        qtbot.waitUntil(lambda: bool(got), timeout=20000)
        out, _ = second.communicate(timeout=30)
        assert out.strip().splitlines()[-1] == "True", out  # it heard "ok" before quitting
        assert got == [Request(files=(str(doc),), ask="Summarize", quick_ask=True)]
    finally:
        stop(second)
        first.close()


def test_garbage_on_the_socket_never_reaches_the_window_as_anything_but_come_forward(qtbot):
    first = SingleInstance(default_data_dir())
    assert first.acquire()
    got = []
    first.on_activation(got.append)
    data_dir = default_data_dir()
    try:
        for line in (b"raise\n", b'{"files": "/etc/passwd", "ask": 5, "quick_ask": 1}\n',
                     b"[1, 2]\n", b"\xff\xfe\n"):
            reply = []
            # The client blocks on the reply, so it runs beside the event loop: a thread.
            t = threading.Thread(target=lambda l=line: reply.append(hand_over(data_dir, l)))
            t.start()
            qtbot.waitUntil(lambda: not t.is_alive(), timeout=10000)
            assert reply == [b"ok\n"]
        assert got == [Request()] * 4
        # Over a megabyte without a line end: dropped unanswered; the server goes on working.
        big = []
        t = threading.Thread(target=lambda: big.append(hand_over(data_dir, b"x" * (2 << 20))))
        t.start()
        qtbot.waitUntil(lambda: not t.is_alive(), timeout=20000)
        assert big[0] in (None, b"") and len(got) == 4
        ok = []
        t = threading.Thread(target=lambda: ok.append(hand_over(data_dir, {"files": ["/a.txt"]})))
        t.start()
        qtbot.waitUntil(lambda: not t.is_alive(), timeout=10000)
        assert ok == [b"ok\n"] and got[-1] == Request(files=("/a.txt",))
    finally:
        first.close()


def test_files_and_a_question_reach_a_new_chat_from_the_command_line_and_a_second_launch(
        tmp_path, tiny_gpt_oss):
    """A real Hearth started with a file and --ask answers about it; a second launch with
    another file and question hands them over and quits, and the first answers that too."""
    data_dir = default_data_dir()
    with Store() as store:  # the default model, writing well-formed answers
        model_library.set_default(store, str(tiny_gpt_oss))
        speak(store, tiny_gpt_oss, max_tokens=24)
    (tmp_path / "notes.txt").write_text("The meeting moved to Thursday.\n")
    (tmp_path / "later.md").write_text("# Later\n\nBring the slides.\n")
    env = child_env()
    first = subprocess.Popen([sys.executable, "-m", "app", "--ask", "What moved?", "notes.txt"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_answering(data_dir, first)
        wait_for(lambda: len(answers(data_dir)) == 1 and answers(data_dir)[0][2] == "complete",
                 60, first)
        second = subprocess.run([sys.executable, "-m", "app", "--ask", "What to bring?",
                                 "later.md"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        wait_for(lambda: len(answers(data_dir)) == 2 and answers(data_dir)[1][2] == "complete",
                 60, first)
        assert attached(data_dir) == [("notes.txt", "What moved?"), ("later.md", "What to bring?")]
        chats = query(data_dir, "SELECT conversation_id FROM messages WHERE role = 'user'")
        assert len({c for (c,) in chats}) == 2  # each in a chat of its own
        assert first.poll() is None  # one Hearth still, the first
    finally:
        stop(first)


def test_a_file_opened_by_the_system_is_attached_in_a_new_chat(qtbot, window, tmp_path):
    """macOS sends files dropped on the Dock icon or opened with "Open With" as a
    QFileOpenEvent to the application (no arguments): the same path as a launch's files."""
    Desktop(window)
    doc = tmp_path / "dock.txt"
    doc.write_text("Dropped on the Dock.\n")
    app = QtWidgets.QApplication.instance()
    assert app.sendEvent(app, QtGui.QFileOpenEvent(str(doc)))
    assert [c.name for c in window.composer.tray.chips()] == ["dock.txt"]
    qtbot.waitUntil(lambda: all(c.ready for c in window.composer.tray.chips()), timeout=10000)
    assert [d.name for d in window.store.documents.list()] == ["dock.txt"]
