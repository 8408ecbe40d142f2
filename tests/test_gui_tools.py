"""Tools in the window: a call is a compact block inside the answer, folded, expandable,
copyable; a call that needs approval asks in its block; the Tools menu sets what a chat may
use. On the tiny gpt-oss, made by a grammar to call a tool (greedy, so always the same)."""

from __future__ import annotations

from fixtures.gui import bubbles, load, send

from app.core.tools import registry as tool_registry
from app.gui.qt import Qt, QtGui

CALCULATOR = "\n".join([
    'root ::= analysis <|start|> "assistant" call',
    'analysis ::= <|channel|> "analysis" <|message|> [a-z]{1,8} <|end|>',
    'call ::= <|channel|> "commentary to=functions.calculator " <|constrain|> "json" <|message|> '
    '"{\\"expression\\":\\"6*7\\"}"', ""])
PYTHON = "\n".join([
    'root ::= analysis <|start|> "assistant" call',
    'analysis ::= <|channel|> "analysis" <|message|> [a-z]{1,8} <|end|>',
    'call ::= <|channel|> "analysis to=python code" <|message|> "print(6 * 7)"', ""])


def tools_menu_action(window, title: str):
    window.window_tools.button.rebuild()
    return next(a for a in window.window_tools.button.menu_.actions() if a.text().startswith(title))


def test_a_tool_call_is_a_folded_block_that_opens_and_survives_a_restart(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss, grammar=CALCULATOR)
    send(qtbot, window, "What is six times seven?")
    answer = bubbles(window)[-1]
    first = answer.tools.blocks[0]
    assert first.toggle.text().startswith("Calculator · done")
    assert not first.is_open and not first.details.isVisible()
    first.toggle.click()
    assert first.is_open and first.result_label.text() == "42"
    assert first.arguments_label.text() == '{"expression":"6*7"}'
    first.copy_button.click()
    assert QtGui.QGuiApplication.clipboard().text() == (
        'functions.calculator\n{"expression":"6*7"}\n\n42\n')
    # The loop ended by itself (the grammar only calls): the last block says why.
    assert answer.status == "complete" and len(answer.tools.blocks) >= 9
    window.controller.open_conversation(window.controller.conversation_id)  # from the database
    again = bubbles(window)[-1]
    assert [b.status for b in again.tools.blocks.values()][:8] == ["done"] * 8
    assert again.tools.blocks[0].result == "42"


def test_python_asks_first_in_its_block_and_allow_for_this_chat_stops_asking(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss, grammar=PYTHON)
    window.controller.new_conversation()
    tools_menu_action(window, "Python").setChecked(True)  # the Tools menu, as a person would
    assert "python" in tool_registry.chat_keys(window.store, window.controller.conversation_id)
    window.composer.edit.setPlainText("Compute it")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    answer = bubbles(window)[-1]
    qtbot.waitUntil(lambda: 0 in answer.tools.blocks and answer.tools.blocks[0].approval.isVisible(),
                    timeout=20000)
    block = answer.tools.blocks[0]
    assert "waiting for your approval" in block.toggle.text()
    assert block.allow_chat.isVisible() and block.deny.isVisible()
    with qtbot.waitSignal(window.controller.busy_changed, timeout=60000,
                          check_params_cb=lambda busy: not busy):
        block.allow_chat.click()
    assert block.status == "done" and block.result.strip() == "42"
    asked = [b for b in answer.tools.blocks.values() if b.approval.isVisible()]
    assert asked == []  # allowed for the chat: the later calls ran without asking
    assert [b.status for b in answer.tools.blocks.values()][:8] == ["done"] * 8


def test_deny_then_stop_while_it_asks_again_leaves_the_window_idle(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss, grammar=PYTHON)
    window.controller.new_conversation()
    tools_menu_action(window, "Python").setChecked(True)
    window.composer.edit.setPlainText("Compute it")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
    answer = bubbles(window)[-1]
    qtbot.waitUntil(lambda: 0 in answer.tools.blocks and answer.tools.blocks[0].approval.isVisible(),
                    timeout=20000)
    answer.tools.blocks[0].deny.click()
    qtbot.waitUntil(lambda: 1 in answer.tools.blocks and answer.tools.blocks[1].approval.isVisible(),
                    timeout=20000)  # told it was not allowed, the model tries again: asked again
    assert answer.tools.blocks[0].status == "denied"
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000,
                          check_params_cb=lambda busy: not busy):
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)  # Stop
    assert window.composer.button.text() == "Send" and answer.status == "cancelled"
    calls = window.store.tool_calls.for_message(answer.message_id)
    assert [c.status for c in calls] == ["denied", "cancelled"]


def test_the_tools_menu_is_per_chat_and_says_what_reaches_the_internet(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    first = window.controller.new_conversation()
    calculator = tools_menu_action(window, "Calculator")
    assert calculator.isChecked()  # on by default in a new chat
    calculator.setChecked(False)
    assert "calculator" not in tool_registry.chat_keys(window.store, first)
    window.controller.new_conversation()
    assert tools_menu_action(window, "Calculator").isChecked()  # another chat keeps its own
    browser = tools_menu_action(window, "Browser")
    assert "reaches the internet" in browser.text() and not browser.isEnabled()
    assert "search service" in browser.toolTip()
