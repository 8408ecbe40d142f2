"""The first ten minutes in the window: New chat and the cursor, the sidebar, drafts, a composer
that grows, the reasoning control each model takes, the thinking block, and a context meter
and tokens/s that tell the truth."""

from __future__ import annotations

import re

from fixtures.gui import ENDLESS, bubbles, load, send, speak
from fixtures.tiny_models import write_tiny_gpt_oss

from app.core import provenance
from app.gui.chat.messages import AssistantMessage
from app.gui.main_window import MainWindow
from app.gui.qt import Qt, QtWidgets
from storage import Store

# A <think> template with Qwen3's switch (`enable_thinking`); the model is the tiny one.
THINK_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}")
THINK_GRAMMAR = 'root ::= "<think>" [a-z ]{1,12} "</think>" [a-z ]{1,12}\n'
# Reasoning that never ends: the answer is stopped while it thinks.
ENDLESS_THOUGHT = 'root ::= <|channel|> "analysis" <|message|> x\nx ::= [a-z ] x\n'


def focused(qtbot, win):
    win.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is not None, timeout=3000)
    return QtWidgets.QApplication.focusWidget()


def test_new_chat_puts_the_cursor_in_the_composer_and_leaves_no_empty_chats(
        qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "First question")
    window.chat_view.setFocus()
    qtbot.mouseClick(window.sidebar.new_button, Qt.MouseButton.LeftButton)
    assert focused(qtbot, window) is window.composer.edit
    assert window.controller.conversation_id is None and bubbles(window) == []
    qtbot.mouseClick(window.sidebar.new_button, Qt.MouseButton.LeftButton)  # again: reused
    window.new_action.trigger()  # and Ctrl+N
    assert window.sidebar.titles() == ["First question"]
    assert len(window.store.conversations.list()) == 1

    qtbot.keyClicks(QtWidgets.QApplication.focusWidget(), "Second question")  # typing lands there
    assert window.composer.edit.toPlainText() == "Second question"
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000,
                          check_params_cb=lambda busy: not busy):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    assert window.sidebar.titles() == ["Second question", "First question"]
    selected = window.sidebar.list.currentItem()
    assert selected.text() == "Second question"  # listed once sent, and selected


def test_the_composer_grows_with_its_text_up_to_a_third_of_the_window(qtbot, window):
    window.resize(1000, 900)
    start = window.composer.edit.height()
    qtbot.keyClicks(window.composer.edit, "line")
    for _ in range(6):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(window.composer.edit, "line")
    grown = window.composer.edit.height()
    assert grown > start
    for _ in range(60):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert grown < window.composer.edit.height() <= window.height() // 3
    window.composer.edit.clear()
    assert window.composer.edit.height() == start


def test_a_draft_is_kept_per_chat_across_switching_and_quitting(qtbot):
    with Store() as store:
        one = store.conversations.create("One").id
        store.messages.add(one, "user", "Hello one")
        two = store.conversations.create("Two").id
        store.messages.add(two, "user", "Hello two")
    store = Store()
    win = MainWindow(store)
    qtbot.addWidget(win)
    assert win.controller.conversation_id == two  # the newest opens
    qtbot.keyClicks(win.composer.edit, "and one about two")
    win.sidebar.list.setCurrentItem(win.sidebar.item_for(one))
    assert win.controller.conversation_id == one and win.composer.edit.toPlainText() == ""
    qtbot.keyClicks(win.composer.edit, "half a thought about one")
    win.sidebar.list.setCurrentItem(win.sidebar.item_for(two))
    assert win.composer.edit.toPlainText() == "and one about two"
    win.sidebar.list.setCurrentItem(win.sidebar.item_for(one))
    win.new_chat()
    qtbot.keyClicks(win.composer.edit, "a new chat's start")
    win.close()  # quit
    store.close()

    store = Store()
    again = MainWindow(store)
    qtbot.addWidget(again)
    try:
        shown = again.controller.conversation_id
        assert again.composer.edit.toPlainText() == {one: "half a thought about one",
                                                       two: "and one about two"}[shown]
        again.new_chat()
        assert again.composer.edit.toPlainText() == "a new chat's start"
        again.sidebar.list.setCurrentItem(again.sidebar.item_for(two))
        assert again.composer.edit.toPlainText() == "and one about two"
    finally:
        again.close()
        store.close()


def test_the_effort_slider_shows_only_for_models_that_take_one_and_stays_where_it_was_left(
        qtbot, window, tiny_gpt_oss, smollm2_path, tmp_path):
    composer = window.composer
    load(qtbot, window, tiny_gpt_oss)
    assert composer.effort_box.isVisible() and not composer.thinking.isVisible()
    composer.effort.setFocus()
    qtbot.keyClick(composer.effort, Qt.Key.Key_Right)  # the person moves it: medium → high
    assert composer.effort_name == "high"

    load(qtbot, window, smollm2_path, grammar=None)  # no reasoning at all
    assert not composer.effort_box.isVisible() and not composer.thinking.isVisible()
    other = write_tiny_gpt_oss(tmp_path / "other.gguf", seed=3)
    load(qtbot, window, other)
    assert composer.effort_box.isVisible() and composer.effort_name == "high"
    send(qtbot, window, "Hard question")
    made = provenance.of(window.store.messages.get(bubbles(window)[-1].message_id))
    assert made.effort == "high"


def test_a_think_model_with_a_switch_gets_an_on_off_and_the_turn_follows_it(
        qtbot, window, tmp_path):
    model = write_tiny_gpt_oss(tmp_path / "thinker.gguf", chat_template=THINK_TEMPLATE)
    info = load(qtbot, window, model, grammar=THINK_GRAMMAR)
    assert info.reasoning == "switch"
    assert window.composer.thinking.isVisible() and not window.composer.effort_box.isVisible()
    send(qtbot, window, "Think first")
    first = bubbles(window)[-1]
    assert first.reasoning.text and provenance.of(window.store.messages.get(first.message_id)).thinking

    window.composer.thinking.click()  # off
    speak(window.store, model, 'root ::= [a-z ]{1,12}\n')  # no <think> block when told not to
    send(qtbot, window, "Answer at once")
    made = provenance.of(window.store.messages.get(bubbles(window)[-1].message_id))
    assert made.thinking is False and made.effort is None  # no effort: not a gpt-oss model
    assert "effort" not in bubbles(window)[-1].footer.text()


def test_the_thinking_block_counts_the_seconds(qtbot):
    widget = AssistantMessage()
    qtbot.addWidget(widget)
    widget.show()
    widget.append_reasoning("Let me see")
    assert widget.reasoning.toggle.text() == "Thinking…"
    qtbot.waitUntil(lambda: bool(re.fullmatch(r"Thinking… \d+ s", widget.reasoning.toggle.text())),
                    timeout=5000)
    widget.append_answer("Done.")
    assert widget.reasoning.toggle.text().startswith("Thought for")
    title = widget.reasoning.toggle.text()
    qtbot.wait(1200)
    assert widget.reasoning.toggle.text() == title  # the clock stopped with the thinking


def test_stopped_while_thinking_the_reasoning_stays_open_and_says_so(qtbot, window, tmp_path):
    model = write_tiny_gpt_oss(tmp_path / "ponder.gguf", context_length=65536)
    load(qtbot, window, model, grammar=ENDLESS_THOUGHT, n_ctx=65536)
    qtbot.keyClicks(window.composer.edit, "Ponder")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    answer = bubbles(window)[-1]
    qtbot.waitUntil(lambda: len(answer.reasoning.text) > 20, timeout=20000)
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000):
        window.stop_action.trigger()  # Esc
    assert answer.status == "cancelled" and not answer.answer_text
    assert answer.reasoning.is_open and answer.reasoning.body.isVisible()
    assert answer.reasoning.toggle.text().startswith("Stopped while thinking")
    window.controller.open_conversation(window.controller.conversation_id)  # and from the disk
    again = bubbles(window)[-1]
    assert again.reasoning.is_open and again.reasoning.toggle.text().startswith("Stopped while thinking")


def meter(win) -> tuple[int, int]:
    used, size = win.composer.context_meter.text().removesuffix(" tokens").split(" / ")
    return int(used.replace(",", "")), int(size.replace(",", ""))


def test_the_context_meter_is_true_after_a_switch_on_an_empty_chat_and_with_attachments(
        qtbot, window, tiny_gpt_oss, smollm2_path, tmp_path):
    info = load(qtbot, window, tiny_gpt_oss, n_ctx=4096)
    send(qtbot, window, "A question to fill the context a little " * 5)
    qtbot.waitUntil(lambda: meter(window)[0] > 60, timeout=10000)
    long_chat = meter(window)[0]

    window.new_chat()  # an empty chat takes only the system prompt
    qtbot.waitUntil(lambda: 0 < meter(window)[0] < long_chat, timeout=10000)
    empty = meter(window)[0]

    notes = tmp_path / "notes.txt"
    notes.write_text("The launch code is PELICAN-42. " * 40)
    window.attacher.attach([str(notes)])
    qtbot.waitUntil(lambda: meter(window)[0] > empty + 200, timeout=20000)  # the plan counts
    window.composer.tray.chips()[0].remove_requested.emit(window.composer.tray.chips()[0])
    qtbot.waitUntil(lambda: meter(window)[0] == empty, timeout=10000)

    other = load(qtbot, window, smollm2_path, grammar=None)  # another model: its own count
    assert other.n_ctx != info.n_ctx
    qtbot.waitUntil(lambda: meter(window)[1] == other.n_ctx and meter(window)[0] > 0, timeout=10000)


def test_the_meter_and_tokens_per_second_move_while_an_answer_streams(qtbot, window, tmp_path):
    model = write_tiny_gpt_oss(tmp_path / "long.gguf", context_length=65536)
    load(qtbot, window, model, grammar=ENDLESS, n_ctx=65536)
    qtbot.keyClicks(window.composer.edit, "Go on")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    answer = bubbles(window)[-1]
    qtbot.waitUntil(lambda: len(answer.answer_text) > 20, timeout=20000)
    first = meter(window)[0]
    qtbot.waitUntil(lambda: meter(window)[0] > first + 20, timeout=20000)
    assert window.controller.busy  # still streaming: the numbers moved during the answer
    assert window.speed_label.text().endswith("tokens/s")
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000):
        window.controller.stop()


def test_a_chat_is_titled_in_the_sidebar_as_soon_as_its_question_is_saved(qtbot, window, tmp_path):
    model = write_tiny_gpt_oss(tmp_path / "long.gguf", context_length=65536)
    load(qtbot, window, model, grammar=ENDLESS, n_ctx=65536)
    qtbot.keyClicks(window.composer.edit, "Name me at once")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.sidebar.titles() == ["Name me at once"], timeout=20000)
    assert window.controller.busy
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000):
        window.controller.stop()



def test_the_first_chats_draft_survives_a_quit_before_any_chat_exists(qtbot):
    store = Store()
    win = MainWindow(store)
    qtbot.addWidget(win)
    qtbot.keyClicks(win.composer.edit, "my very first question")
    win.close()
    store.close()
    store = Store()
    again = MainWindow(store)
    qtbot.addWidget(again)
    try:
        assert again.composer.edit.toPlainText() == "my very first question"
        assert store.conversations.list() == []  # a draft is not a chat
    finally:
        again.close()
        store.close()
