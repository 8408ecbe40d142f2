"""Always ready: the tray icon, closing into it with the model still loaded, Quit, quick ask.

Qt's offscreen platform has no system tray (`isSystemTrayAvailable()` is False), which is
itself a case to get right: there, closing the window must quit. What a desktop with a tray
does is checked by showing the icon by hand, which is what `Tray.install()` does there; the
icon's actual drawing in a panel and its notification bubble only a real desktop shows.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from fixtures.gui import load, speak

from app.core import preferences
from app.gui import quick_ask
from app.gui.desktop import Desktop
from app.gui.qt import Qt
from app.gui.tray import NO_MODEL, NOTICE_KEY, Tray


def texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def test_without_a_tray_closing_the_window_quits_as_before(qtbot, window, tiny_gpt_oss):
    desktop = Desktop(window)
    assert not Tray.available()  # offscreen: no tray to hide into
    assert not desktop.install_tray() and not desktop.tray.icon.isVisible()
    load(qtbot, window, tiny_gpt_oss)
    window.close()
    assert not window.isVisible() and window._closed
    assert not window.session.host.alive  # unloaded: nothing left running unreachable


# Showing a tray icon where the platform has no tray: Qt's offscreen plugin says so.
NO_TRAY = pytest.mark.qt_log_ignore("systemTrayWindowChanged")


@NO_TRAY
def test_with_a_tray_closing_hides_the_window_keeps_the_model_and_says_so_once(
        qtbot, window, tiny_gpt_oss):
    desktop = Desktop(window)
    desktop.tray.icon.show()  # as install() does on a desktop with a tray
    info = load(qtbot, window, tiny_gpt_oss)
    assert texts(desktop.tray.menu) == ["New chat", "Quick ask…", "Show Hearth",
                                        f"Model: {info.name}", "Quit Hearth"]
    window.close()
    assert not window.isVisible() and not window._closed
    assert window.session.model is not None and window.session.host.alive  # ready at once
    assert "still running in the system tray" in desktop.tray.notice
    assert window.store.settings.get(NOTICE_KEY) is True
    desktop.tray.notice = ""
    desktop.tray.show_action.trigger()
    assert window.isVisible()
    window.close()
    assert not window.isVisible() and desktop.tray.notice == ""  # said once only

    desktop.tray.new_chat.trigger()  # from the tray: the window, on an empty chat
    assert window.isVisible() and window.controller.conversation_id is None

    desktop.tray.quit.trigger()  # Quit unloads and really closes
    assert window.quitting and window._closed and not window.session.host.alive
    desktop.tray.icon.hide()


@NO_TRAY
def test_turning_the_setting_off_makes_closing_quit(qtbot, window, tiny_gpt_oss):
    preferences.save(window.store, replace(preferences.load(window.store), close_to_tray=False))
    desktop = Desktop(window)
    desktop.tray.icon.show()
    load(qtbot, window, tiny_gpt_oss)
    window.close()
    assert window._closed and not window.session.host.alive
    desktop.tray.icon.hide()


def test_the_tray_names_the_model_while_it_loads_and_after(qtbot, window, tiny_gpt_oss):
    desktop = Desktop(window)
    assert desktop.tray.model.text() == NO_MODEL and not desktop.tray.model.isEnabled()
    info = load(qtbot, window, tiny_gpt_oss)
    assert desktop.tray.model.text() == f"Model: {info.name}"
    window.session.unload()
    qtbot.waitUntil(lambda: desktop.tray.model.text() == NO_MODEL, timeout=10000)


def test_quick_ask_answers_in_its_panel_and_continues_in_the_main_window(
        qtbot, window, tiny_gpt_oss):
    Desktop(window)
    load(qtbot, window, tiny_gpt_oss)
    speak(window.store, tiny_gpt_oss, max_tokens=24)
    window.hide()  # as in the tray
    action = window.quick_ask_action
    assert action.shortcut().toString() == quick_ask.SHORTCUT
    action.trigger()
    panel = window.quick_ask
    assert panel.isVisible() and not window.isVisible()
    qtbot.keyClicks(panel.question, "Say something")
    with qtbot.waitSignal(window.controller.busy_changed, timeout=20000,
                          check_params_cb=lambda busy: not busy):
        qtbot.keyClick(panel.question, Qt.Key.Key_Return)
    answer = window.store.messages.list_for(panel.conversation_id)[-1]
    assert answer.status == "complete" and answer.content
    assert panel.answer.toPlainText() == answer.content  # shown in the panel as it streamed
    assert not window.isVisible()
    panel.continue_button.click()
    assert window.isVisible() and not panel.isVisible()
    assert window.controller.conversation_id == panel.conversation_id


def test_quick_ask_without_a_model_says_why(qtbot, window):
    panel = quick_ask.show_for(window)
    qtbot.keyClicks(panel.question, "Hello?")
    panel.send()
    assert panel.note.isVisible() and "Choose a model" in panel.note.text()
    assert panel.question.text() == "Hello?"  # kept to send again
