"""The window, offscreen, on real parts: llama.cpp on the tiny gpt-oss model, a real SQLite file.

Each test drives the window the way a person does (typing, Enter, Stop, reopening) and
checks what that person would see, and what is on disk afterwards.
"""

from __future__ import annotations

import pytest
from fixtures.gui import ENDLESS, bubbles, load, send
from fixtures.tiny_models import write_tiny_gpt_oss

from app.core import provenance
from app.gui.chat.messages import AssistantMessage
from app.gui.main_window import MainWindow
from app.gui.qt import Qt, QtWidgets
from storage import Store

def test_enter_sends_and_reasoning_then_answer_appear(qtbot, window, tiny_gpt_oss):
    info = load(qtbot, window, tiny_gpt_oss)
    assert info.harmony and window.banner.isHidden()
    send(qtbot, window, "Why is the sky blue?")

    user, answer = bubbles(window)
    assert user.body.text() == "Why is the sky blue?"
    assert answer.reasoning.isVisible() and answer.reasoning.text.strip()
    assert not answer.reasoning.is_open, "reasoning folds once the answer is there"
    assert answer.reasoning.toggle.text().startswith("Thought for")
    assert answer.answer_text.strip() and answer.status == "complete"
    assert window.composer.button.text() == "Send"
    assert window.composer.edit.toPlainText() == ""

    answer.reasoning.toggle.click()  # re-openable
    assert answer.reasoning.is_open and answer.reasoning.body.isVisible()

    saved = window.store.messages.list_for(window.controller.conversation_id)
    assert [m.role for m in saved] == ["user", "assistant"]
    assert saved[1].content == answer.answer_text and saved[1].reasoning == answer.reasoning.text
    assert saved[1].status == "complete" and saved[1].model_name == info.name
    assert window.sidebar.titles() == ["Why is the sky blue?"]
    assert "tokens/s" in window.speed_label.text()
    # the composer's meter: what the chat takes of the context, measured on the model's thread
    def used() -> int:
        text = window.composer.context_meter.text()
        assert text.endswith(f"/ {info.n_ctx:,} tokens")
        return int(text.split(" / ")[0].replace(",", ""))
    qtbot.waitUntil(lambda: used() > 0)
    assert used() < info.n_ctx


def test_reasoning_block_is_open_while_it_streams_and_folds_when_the_answer_starts(qtbot):
    widget = AssistantMessage()
    qtbot.addWidget(widget)
    widget.show()
    widget.append_reasoning("Rayleigh ")
    widget.append_reasoning("scattering.")
    assert widget.reasoning.is_open and widget.reasoning.text == "Rayleigh scattering."
    assert widget.reasoning.toggle.text() == "Thinking…"
    widget.append_answer("Because of **Rayleigh** scattering.")
    assert not widget.reasoning.is_open
    assert "<strong>Rayleigh</strong>" in widget.answer.text()


def test_shift_enter_makes_a_new_line_instead_of_sending(qtbot, window):
    qtbot.keyClicks(window.composer.edit, "first")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.composer.edit, "second")
    assert window.composer.edit.toPlainText() == "first\nsecond"
    assert bubbles(window) == []


def start_endless_answer(qtbot, win, tmp_path, question):
    """Send `question` to a model that would write until its 64k context is full."""
    model = write_tiny_gpt_oss(tmp_path / "long.gguf", context_length=65536)
    load(qtbot, win, model, grammar=ENDLESS, n_ctx=65536)
    qtbot.keyClicks(win.composer.edit, question)
    qtbot.keyClick(win.composer.edit, Qt.Key.Key_Return)
    answer = bubbles(win)[-1]
    qtbot.waitUntil(lambda: len(answer.answer_text) > 20, timeout=20000)
    return answer


def test_stop_half_way_keeps_the_partial_answer_marked_stopped(qtbot, window, tmp_path):
    answer = start_endless_answer(qtbot, window, tmp_path, "Tell me everything")
    assert window.composer.button.text() == "Stop"
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000):
        qtbot.mouseClick(window.composer.button, Qt.MouseButton.LeftButton)

    assert answer.status == "cancelled" and answer.answer_text
    assert answer.footer.text().startswith("Stopped")
    saved = window.store.messages.list_for(window.controller.conversation_id)[-1]
    assert saved.status == "cancelled"
    assert saved.content == answer.answer_text
    assert provenance.of(saved).generated_tokens < 65536 // 2, "stopped long before the context filled"


def test_every_conversation_is_there_after_a_restart(qtbot, tiny_gpt_oss):
    store = Store()
    first = MainWindow(store)
    qtbot.addWidget(first)
    load(qtbot, first, tiny_gpt_oss)
    send(qtbot, first, "One")
    first.controller.new_conversation()
    send(qtbot, first, "Two")
    before = {c.id: [(m.role, m.content, m.reasoning, m.status) for m in store.messages.list_for(c.id)]
              for c in store.conversations.list()}
    first.close()
    store.close()

    store = Store()  # same HEARTH_DATA_DIR: a fresh process would open exactly this
    second = MainWindow(store)
    qtbot.addWidget(second)
    try:
        assert sorted(second.sidebar.titles()) == ["One", "Two"]
        after = {c.id: [(m.role, m.content, m.reasoning, m.status) for m in store.messages.list_for(c.id)]
                 for c in store.conversations.list()}
        assert after == before
        # the newest conversation is open, with its messages painted
        shown = bubbles(second)
        assert shown[0].body.text() == "Two"
        assert shown[1].answer_text == before[second.controller.conversation_id][1][1]
        # and the window reloads the last model by itself
        with qtbot.waitSignal(second.session.changed, timeout=20000):
            second.start()
        assert second.session.model is not None
    finally:
        second.close()
        store.close()


@pytest.mark.parametrize("content, expected", [
    (b"just some text, not a model\n" * 10, "not a GGUF model"),
    (None, "truncated"),
])
def test_a_bad_model_file_gets_a_clear_message_and_the_app_stays_up(qtbot, window, tmp_path,
                                                                    tiny_gpt_oss, content, expected):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content if content is not None else tiny_gpt_oss.read_bytes()[:200_000])
    with qtbot.waitSignal(window.session.failed, timeout=20000):
        window.session.load(str(bad))
    assert window.banner.isVisible() and window.banner.kind == "error"
    assert expected in window.banner.label.text()
    assert window.session.model is None
    # still usable: a good model loads and answers after the failure
    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "Still there?")
    assert bubbles(window)[-1].status == "complete"


def test_sending_without_a_model_keeps_the_text_and_says_what_to_do(qtbot, window):
    qtbot.keyClicks(window.composer.edit, "Hello?")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.composer.edit.toPlainText() == "Hello?"
    assert window.banner.isVisible() and "Choose a model" in window.banner.label.text()
    assert bubbles(window) == []


def test_effort_slider_applies_to_the_next_turn(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    window.composer.effort.setValue(2)
    assert window.composer.effort_label.text() == "High"
    send(qtbot, window, "Think hard")
    saved = window.store.messages.list_for(window.controller.conversation_id)[-1]
    assert saved.effort == "high"
    assert "high effort" in bubbles(window)[-1].footer.text()


def test_rename_and_delete_conversations_from_the_sidebar(qtbot, window):
    first = window.controller.new_conversation()
    window.controller.new_conversation()
    item = window.sidebar.item_for(first)
    item.setText("Renamed")  # what the in-place editor does on Enter
    assert "Renamed" in [c.title for c in window.store.conversations.list()]
    window.controller.delete_conversation(first)
    assert len(window.store.conversations.list()) == 1
    assert window.sidebar.titles() == ["New chat"] and window.sidebar.headings() == ["Today"]


def test_an_answer_cut_off_by_a_crash_is_kept_and_marked(qtbot):
    with Store() as store:
        chat = store.conversations.create("Crashed")
        _, answer = store.messages.add_turn(chat.id, "Question")
        store.messages.update(answer.id, content="Half an ans")  # still 'streaming': then the crash
    store = Store()
    assert store.messages.mark_interrupted() == 1  # what app.main does at start-up
    win = MainWindow(store)
    qtbot.addWidget(win)
    try:
        shown = bubbles(win)[-1]
        assert shown.answer_text == "Half an ans" and shown.status == "failed"
        assert "Interrupted" in shown.footer.text()
    finally:
        win.close()
        store.close()


def test_deleting_the_conversation_that_is_streaming_stops_it_then_trashes_it(qtbot, window, tmp_path):
    start_endless_answer(qtbot, window, tmp_path, "Go on forever")
    streaming = window.controller.conversation_id
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000):
        window.controller.delete_conversation(streaming)
    trashed = window.store.conversations.get(streaming)
    assert trashed.deleted_at is not None and window.store.conversations.list() == []
    saved = window.store.messages.list_for(streaming)  # the answer's last save landed first
    assert saved[-1].status == "cancelled" and saved[-1].content
    assert window.sidebar.titles() == [] and bubbles(window) == []
    # and the Undo the window offers brings it back
    assert window.banner.button.text() == "Undo"
    window.banner.button.click()
    assert [c.id for c in window.store.conversations.list()] == [streaming]


def test_a_rerun_refused_on_the_engine_thread_ends_the_turn_and_says_why(qtbot, window, tiny_gpt_oss):
    """Bug: a re-run refused on the worker came back as TurnResult(0, 0); updating its stats
    raised and the window stayed busy. Here the chat is deleted (by another program) while
    the re-run waits for the engine."""
    import threading

    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "Hello")
    answer = bubbles(window)[-1]
    conversation = window.controller.conversation_id
    gate = threading.Event()
    window.session.run(lambda _state: gate.wait(10))  # the engine is busy a moment
    assert window.controller.actions.rerun_exactly(answer.message_id)
    assert window.composer.button.text() == "Stop"
    with Store() as other:  # another program's connection, as `hearth` would have
        other.conversations.trash(conversation)
        other.conversations.purge_trash("9999-12-31T00:00:00+00:00")
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000,
                          check_params_cb=lambda busy: not busy):
        gate.set()
    assert window.composer.button.text() == "Send"
    assert "no longer exists" in window.statusBar().currentMessage()


def test_qt_calls_do_not_leak_references_to_none(qtbot, window):
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None on every void call, and the
    app aborted ("none_dealloc") after a few hundred sidebar rows (pyproject excludes it)."""
    import sys

    for i in range(300):
        window.store.conversations.create(f"Chat {i}")
    before = sys.getrefcount(None)
    for _ in range(5):
        window.refresh_conversations()
    label = QtWidgets.QLabel()
    for _ in range(1000):
        label.setText("x")
    assert sys.getrefcount(None) >= before - 50  # immortal from 3.12: then trivially true
