"""Errors in the window: a person's (UserError) shows its message; a bug is logged with its
traceback and shown as "Something went wrong" with the details; the window stays usable."""

from __future__ import annotations

import sys

import pytest
from fixtures.gui import bubbles, load, send

from app.core import logs
from app.gui import errors
from common.errors import UserError


@pytest.fixture
def reporting(window):
    """The window as the app runs it: exceptions escaping a slot go to errors.install's hook
    (pytest-qt's own capture is off for these tests, see the marks)."""
    previous = errors.install(window)
    yield window
    sys.excepthook = previous


@pytest.mark.qt_no_exception_capture
def test_a_bug_in_a_slot_is_logged_and_shown_and_send_still_works(qtbot, reporting, tiny_gpt_oss):
    window = reporting
    load(qtbot, window, tiny_gpt_oss)

    def broken(_made):
        raise RuntimeError("a bug in a slot")
    window.controller.stats_changed.connect(broken)  # runs as the answer finishes
    send(qtbot, window, "Hello")
    assert window.banner.isVisible() and "Something went wrong" in window.banner.label.text()
    assert window.banner.button.text() == "Details…"
    assert "a bug in a slot" in window.bug_dialog.details  # the traceback, ready to copy
    assert "RuntimeError: a bug in a slot" in logs.log_path().read_text()
    assert window.composer.button.text() == "Send" and window.composer.button.isEnabled()
    window.controller.stats_changed.disconnect(broken)
    send(qtbot, window, "Still there?")
    assert bubbles(window)[-1].status == "complete"


@pytest.mark.qt_no_exception_capture
def test_a_user_error_in_a_slot_shows_its_message_without_a_traceback(qtbot, reporting):
    window = reporting

    def refuse(_text, _effort):
        raise UserError("That file is not a model.")
    window.composer.send_requested.connect(refuse)
    window.composer.edit.setPlainText("hi")
    window.composer.button.click()
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert window.banner.label.text() == "That file is not a model."
    assert not logs.log_path().exists() or "That file is not a model" not in logs.log_path().read_text()


@pytest.mark.qt_no_exception_capture
def test_a_bug_when_a_turn_starts_leaves_the_window_idle(qtbot, reporting, tiny_gpt_oss):
    """A slot that fails as the busy state begins must not leave Send disabled for good."""
    window = reporting
    load(qtbot, window, tiny_gpt_oss)

    def broken(busy):
        if busy:
            raise RuntimeError("failed as the turn started")
    window.controller.busy_changed.connect(broken)
    send(qtbot, window, "Hello")
    assert window.composer.button.text() == "Send"
    assert "Something went wrong" in window.banner.label.text()


def test_a_damaged_database_opens_a_window_that_says_so_and_keeps_the_old_file(qtbot, tmp_path):
    """The window's start-up path: open_store sets the damaged file aside (never deleted), and
    the window opens on a fresh database with the notice shown until dismissed."""
    import os
    from pathlib import Path

    from app.gui.main_window import MainWindow
    from storage import open_store

    data = Path(os.environ["HEARTH_DATA_DIR"])
    (data / "hearth.db").write_bytes(b"this is not a database, it was damaged" * 100)
    store, report = open_store()
    win = MainWindow(store, report)
    qtbot.addWidget(win)
    win.show()
    win.start()
    try:
        assert win.storage_banner.isVisible() and "damaged" in win.storage_banner.label.text()
        kept = [p for p in data.iterdir() if p.name.startswith("hearth.db.damaged-")]
        assert kept and kept[0].read_bytes().startswith(b"this is not a database")
        assert win.store.conversations.list() == []  # a fresh database, working
        win.controller.new_conversation()
    finally:
        win.close()
        store.close()


def test_a_default_model_that_cannot_load_never_stops_the_window_from_opening(qtbot, open_window, tmp_path):
    from app.core import model_library
    from storage import Store

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 200)  # a header that lies
    with Store() as store:
        model_library.set_default(store, broken)
    win = open_window()
    qtbot.waitUntil(lambda: win.banner.isVisible() and win.banner.kind == "error", timeout=20000)
    assert "broken.gguf" in win.banner.label.text() and win.session.model is None
    assert win.isVisible()


def test_running_out_of_memory_mid_answer_is_said_in_words():
    from app.core.turns import describe_failure

    assert describe_failure(MemoryError()) == (
        "The model stopped: this computer ran out of memory. What was written so far is kept.")
    assert describe_failure(RuntimeError()).endswith("RuntimeError")  # never an empty message
