"""What a person does with one message: copy a code block, open a link only on click."""

from __future__ import annotations

from app.gui.chat.messages import AssistantMessage
from app.gui.qt import QtGui, QtWidgets

ANSWER = "Here:\n\n```python\ndef f(x):\n    return x * 2\n```\n\nand [docs](https://example.org)."


def test_a_code_blocks_copy_link_puts_exactly_that_code_on_the_clipboard(qtbot):
    widget = AssistantMessage.from_saved(ANSWER, "", "complete", None, None, "medium")
    qtbot.addWidget(widget)
    assert 'href="copy:0"' in widget.answer.text() and "python" in widget.answer.text()
    QtGui.QGuiApplication.clipboard().setText("before")
    widget.answer.linkActivated.emit("copy:0")
    assert QtGui.QGuiApplication.clipboard().text() == "def f(x):\n    return x * 2"
    widget.answer.linkActivated.emit("copy:7")  # no such block: nothing happens
    assert QtGui.QGuiApplication.clipboard().text() == "def f(x):\n    return x * 2"
    assert not widget.answer.openExternalLinks()  # links open only through our handler


# -- actions on a live conversation (tiny gpt-oss, real llama.cpp) ------------------------------

import pytest  # noqa: E402
from fixtures.gui import bubbles, load, send, speak

from app.gui.chat.messages import UserMessage  # noqa: E402
from app.gui.qt import Qt  # noqa: E402
from app.core import provenance  # noqa: E402
from app.core.provenance import Provenance  # noqa: E402

@pytest.fixture
def chatting(qtbot, window, tiny_gpt_oss):
    # Flash attention off: on the CPU it makes logits depend on how a prompt was batched.
    load(qtbot, window, tiny_gpt_oss, temperature=1.0, max_tokens=60, n_ctx=2048, flash_attn=False)
    send(qtbot, window, "First question")
    return window


def finished(qtbot, win, action):
    with qtbot.waitSignal(win.controller.busy_changed, timeout=20000,
                          check_params_cb=lambda busy: not busy):
        action()


def answers(win):
    return [w for w in bubbles(win) if isinstance(w, AssistantMessage)]


def test_regenerate_keeps_the_old_answer_and_the_arrows_switch_between_them(qtbot, chatting):
    win = chatting
    old = answers(win)[-1]
    old_text, old_id = old.answer_text, old.message_id
    finished(qtbot, win, old.actions.buttons["regenerate"].click)
    new = answers(win)[-1]
    assert new.message_id != old_id and new.actions.branch_label.text() == "2/2"
    new.actions.prev_button.click()
    shown = answers(win)[-1]
    assert shown.message_id == old_id and shown.answer_text == old_text
    assert shown.actions.branch_label.text() == "1/2"


def test_up_arrow_edits_the_last_message_and_sending_makes_a_branch(qtbot, chatting):
    win = chatting
    win.composer.edit.setFocus()
    qtbot.keyClick(win.composer.edit, Qt.Key.Key_Up)
    assert win.composer.editing and win.composer.edit.toPlainText() == "First question"
    win.composer.edit.selectAll()
    qtbot.keyClicks(win.composer.edit, "First question, edited")
    finished(qtbot, win, lambda: qtbot.keyClick(win.composer.edit, Qt.Key.Key_Return))
    users = [w for w in bubbles(win) if isinstance(w, UserMessage)]
    assert [u.text for u in users] == ["First question, edited"]
    assert users[0].actions.branch_label.text() == "2/2" and not win.composer.editing
    users[0].actions.prev_button.click()
    assert [w.text for w in bubbles(win) if isinstance(w, UserMessage)] == ["First question"]


def test_delete_then_undo_brings_the_messages_back(qtbot, chatting):
    win = chatting
    send(qtbot, win, "Second question")
    before = [(type(w).__name__, w.message_id) for w in bubbles(win)]
    second_user = [w for w in bubbles(win) if isinstance(w, UserMessage)][-1]
    second_user.actions.buttons["delete"].click()
    assert len(bubbles(win)) == 2 and win.banner.button.text() == "Undo"
    win.banner.button.click()
    assert [(type(w).__name__, w.message_id) for w in bubbles(win)] == before


def test_continue_writes_more_of_a_cut_off_answer(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss, max_tokens=30, n_ctx=2048)
    send(qtbot, window, "Tell me everything")
    cut = answers(window)[-1]
    assert "Cut off" in cut.footer.text() and cut.actions.buttons["continue"].isVisibleTo(cut)
    before = cut.answer_text
    speak(window.store, tiny_gpt_oss, None, max_tokens=6)  # the model's settings change
    finished(qtbot, window, cut.actions.buttons["continue"].click)
    grown = answers(window)[-1]
    assert grown.message_id == cut.message_id
    assert grown.answer_text.startswith(before) and len(grown.answer_text) > len(before)
    assert window.store.messages.get(cut.message_id).content == grown.answer_text


def test_info_shows_how_the_answer_was_made_and_rerun_exactly_matches_it(qtbot, chatting):
    win = chatting
    original = answers(win)[-1]
    saved = win.store.messages.get(original.message_id)
    original.actions.buttons["info"].click()
    popover = win.info_popover
    text = " ".join(label.text() for label in popover.findChildren(QtWidgets.QLabel))
    made = provenance.of(saved)
    assert str(made.seed) in text and made.prompt_sha256[:16] in text
    assert "temperature 1.0" in text
    # The model's settings change meanwhile: the replay takes the answer's own.
    speak(win.store, win.session.model.path, None, temperature=0.3, max_tokens=5)
    finished(qtbot, win, popover.rerun.click)
    replay = answers(win)[-1]
    assert replay.message_id != original.message_id
    assert replay.answer_text == saved.content
    assert "re-run: identical to the original" in replay.footer.text()


def test_citations_are_linked_in_text_but_not_in_code(qtbot):
    plan = {"documents": [{"name": "a.txt", "shown": "whole", "mode": "whole"}],
            "passages": [{"key": 1, "label": "a.txt, lines 1–2", "document_id": 1, "chunk_ids": []}]}
    widget = AssistantMessage.from_saved("See [1]; `arr[1]` is code.\n\n```\nx[1]\n```",
                                         "", "complete", Provenance(documents=plan), None, None)
    qtbot.addWidget(widget)
    html = widget.answer.text()
    assert html.count('href="cite:1"') == 1
    assert widget.documents_line.text() == "Read a.txt: whole"
