"""What people expect of a desktop app: Help and Edit menus, an icon and a window class of its
own, a drop zone, "Copied" after every copy, line breaks kept, a readable column, arrows big
enough to hit, search by keyboard, and an Info popover that says where the sampling came from."""

from __future__ import annotations

import re

import pytest
from fixtures.gui import bubbles, load, send

from app.core import export, logs
from app.core.markdown import hard_breaks, to_html
from app.gui import help as help_menu
from app.gui.chat.messages import AssistantMessage
from app.gui.main import APP_ID, configure
from app.gui.qt import QObject, Qt, QtCore, QtGui, QtWidgets, Slot
from storage import default_data_dir


class Opened(QObject):
    """Catches the URLs the window asks the desktop to open (Qt's own hook for that)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QtCore.QUrl] = []

    @Slot(QtCore.QUrl)
    def open(self, url) -> None:
        self.urls.append(url)


@pytest.fixture
def opened():
    catcher = Opened()
    QtGui.QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher
    QtGui.QDesktopServices.unsetUrlHandler("file")


def menu(win, title: str) -> QtWidgets.QMenu:
    return next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == title)


def action(win, title: str, text: str) -> QtGui.QAction:
    return next(a for a in menu(win, title).actions() if a.text() == text)


def test_help_menu_about_says_versions_backend_and_data_folder(qtbot, window, opened):
    assert [a.text() for a in menu(window, "Help").actions() if a.text()] == [
        "Keyboard shortcuts", "Open log folder", "About Hearth"]
    action(window, "Help", "About Hearth").trigger()
    about = window.about_dialog
    text = " ".join(label.text() for label in about.findChildren(QtWidgets.QLabel))
    assert f"Hearth {help_menu.hearth_version()}" in text
    assert "llama-cpp-python 0.3.36" in text
    assert re.search(r"\b(CPU only|CUDA|Metal|Vulkan)", text)  # what the weights run on
    assert str(default_data_dir()) in text
    about.open_data.click()
    assert opened.urls[-1].toLocalFile() == str(default_data_dir())
    action(window, "Help", "Open log folder").trigger()
    assert opened.urls[-1].toLocalFile() == str(logs.log_dir())


def test_the_shortcuts_sheet_lists_every_shortcut_of_the_window(qtbot, window):
    action(window, "Help", "Keyboard shortcuts").trigger()
    sheet = window.shortcuts_sheet
    listed = {sheet.table.item(r, 1).text() for r in range(sheet.table.rowCount())}
    keys = set()
    for a in window.findChildren(QtGui.QAction):
        for seq in a.shortcuts():
            if not seq.isEmpty():
                keys.add(seq.toString(QtGui.QKeySequence.SequenceFormat.NativeText))
    shown = {k.strip() for entry in listed for k in entry.split(" or ")}
    assert keys <= shown, keys - shown
    assert {"Enter", "Shift+Enter", "Ctrl+K", "Ctrl+N", "Esc"} <= shown


def test_edit_menu_has_the_standard_actions_and_find_is_ctrl_k(qtbot, window):
    edit = [a.text() for a in menu(window, "Edit").actions() if a.text()]
    assert edit == ["Undo", "Redo", "Cut", "Copy", "Paste", "Select all", "Find in chats…"]
    assert window.find_action.shortcut().toString() == "Ctrl+K"
    window.find_action.trigger()
    assert window.search_dialog.isVisible()
    window.search_dialog.close()
    assert window.settings_action.shortcut().toString() == "Ctrl+,"  # shown in the menu

    window.composer.edit.setFocus()
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.focusWidget() is window.composer.edit)
    qtbot.keyClicks(window.composer.edit, "copy me")
    action(window, "Edit", "Select all").trigger()
    action(window, "Edit", "Copy").trigger()
    assert QtGui.QGuiApplication.clipboard().text() == "copy me"
    assert window.statusBar().currentMessage() == "Copied"
    action(window, "Edit", "Cut").trigger()
    assert window.composer.edit.toPlainText() == ""
    action(window, "Edit", "Undo").trigger()
    assert window.composer.edit.toPlainText() == "copy me"


def test_the_app_has_its_own_icon_and_desktop_name(qtbot, window):
    app = QtWidgets.QApplication.instance()
    configure(app)
    assert APP_ID == "hearth" and app.desktopFileName() == "hearth"
    sizes = {(s.width(), s.height()) for s in app.windowIcon().availableSizes()}
    assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= sizes
    assert not window.windowIcon().isNull()
    pixmap = app.windowIcon().pixmap(16, 16)
    assert not pixmap.isNull() and pixmap.toImage().pixelColor(8, 8).alpha() > 0  # drawn, not blank


def test_a_file_dragged_over_the_window_lights_a_drop_zone(qtbot, window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Some notes.\n")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(notes))])
    point = QtCore.QPointF(window.width() / 2, window.height() / 2)
    enter = QtGui.QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime,
                                  Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(window, enter)
    assert enter.isAccepted() and window.drop_zone.isVisible()
    QtWidgets.QApplication.sendEvent(window, QtGui.QDragLeaveEvent())
    assert not window.drop_zone.isVisible()

    QtWidgets.QApplication.sendEvent(window.composer.edit, QtGui.QDragEnterEvent(
        QtCore.QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier))
    assert window.drop_zone.isVisible()  # over the composer too
    QtWidgets.QApplication.sendEvent(window, QtGui.QDropEvent(
        point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier))
    assert not window.drop_zone.isVisible()
    assert [c.name for c in window.composer.tray.chips()] == ["notes.txt"]


def test_every_copy_says_copied(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "Hello")
    answer = bubbles(window)[-1]
    copy = answer.actions.buttons["copy"]
    qtbot.mouseClick(copy, Qt.MouseButton.LeftButton)
    assert QtGui.QGuiApplication.clipboard().text() == answer.answer_text
    assert copy.text() == "Copied" and window.statusBar().currentMessage() == "Copied"
    qtbot.waitUntil(lambda: copy.text() == "Copy", timeout=3000)

    window.statusBar().clearMessage()
    code = AssistantMessage()
    window.chat_view.add(code)
    code.append_answer("```python\nprint('hi')\n```")
    code.answer.linkActivated.emit("copy:0")  # the code block's Copy link
    assert QtGui.QGuiApplication.clipboard().text() == "print('hi')"
    assert window.statusBar().currentMessage() == "Copied"

    window.statusBar().clearMessage()
    window.show_about()
    details = next(b for b in window.about_dialog.findChildren(QtWidgets.QPushButton)
                   if b.text() == "Copy details")
    details.click()
    assert "llama.cpp" in QtGui.QGuiApplication.clipboard().text()
    assert details.text() == "Copied" and window.statusBar().currentMessage() == "Copied"


POEM = "Roses are red,\nviolets are blue,\nlocal models\nanswer you."


def test_single_line_breaks_are_kept_in_the_window_and_in_exports(qtbot, window):
    widget = AssistantMessage.from_saved(POEM, "", "complete", None, None, None)
    qtbot.addWidget(widget)
    assert widget.answer.text().count("<br") == 3
    assert to_html("a\nb").count("<br") == 1 and "<br" not in to_html("a\n\nb")
    cid = window.store.conversations.create("Poem").id
    question = window.store.messages.add(cid, "user", "A poem?")
    window.store.messages.add(cid, "assistant", POEM, parent_id=question.id)
    assert export.export_html(window.store, cid).count("<br") >= 3
    markdown = export.export_markdown(window.store, cid)
    assert "Roses are red,  \nviolets are blue,  \nlocal models  \nanswer you." in markdown
    code = "```\nkeep\nas is\n```"
    assert hard_breaks(code) == code  # code is never touched


def test_the_chat_column_stays_readable_on_a_wide_window(qtbot, window):
    answer = AssistantMessage.from_saved("word " * 400, "", "complete", None, None, None)
    window.chat_view.add(answer)
    window.resize(2400, 900)
    qtbot.waitUntil(lambda: window.chat_view.viewport().width() > 1800)
    qtbot.wait(50)
    assert answer.width() <= 840  # not 2,000 pixels of one line
    window.resize(900, 700)
    qtbot.waitUntil(lambda: window.chat_view.viewport().width() < 700)
    qtbot.wait(50)
    assert answer.width() >= window.chat_view.viewport().width() - 60  # narrow: all of it


def test_branch_arrows_are_big_enough_to_hit(qtbot, window):
    widget = AssistantMessage.from_saved("One answer", "", "complete", None, None, None,
                                         message_id=1)
    widget.actions.set_branch(2, 3)
    window.chat_view.add(widget)
    qtbot.waitUntil(widget.actions.prev_button.isVisible)
    for arrow in (widget.actions.prev_button, widget.actions.next_button):
        assert arrow.width() >= 24 and arrow.height() >= 22


def _chat(store, title, question, answer, reasoning=""):
    cid = store.conversations.create(title).id
    q = store.messages.add(cid, "user", question)
    store.messages.add(cid, "assistant", answer, reasoning=reasoning, parent_id=q.id)
    return cid


def test_search_moves_with_the_arrow_keys_opens_on_enter_or_a_click_and_says_where_it_matched(
        qtbot, window):
    store = window.store
    first = _chat(store, "Herons", "Tell me about herons", "Herons wade.", "the user asks about herons")
    second = _chat(store, "Otters", "And otters?", "Otters swim.", "otters, then herons again")
    window.refresh_conversations()
    window.show_search()
    dialog = window.search_dialog
    qtbot.keyClicks(dialog.query, "herons")
    qtbot.waitUntil(lambda: dialog.results.count() == 3, timeout=3000)
    labels = [dialog.results.itemWidget(dialog.results.item(i)).text() for i in range(3)]
    reasoning_hit = next(t for t in labels if "Otters" in t)
    assert "Reasoning" in reasoning_hit  # only its reasoning mentions herons
    assert any("Answer" in t and "Herons" in t for t in labels)
    assert dialog.results.currentRow() == 0
    qtbot.keyClick(dialog.query, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.query, Qt.Key.Key_Down)
    assert dialog.results.currentRow() == 2 and dialog.query.hasFocus()  # typing stays there
    qtbot.keyClick(dialog.query, Qt.Key.Key_Up)
    assert dialog.results.currentRow() == 1
    wanted = dialog.results.item(1).data(Qt.ItemDataRole.UserRole)
    qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
    assert window.controller.conversation_id == wanted[0]

    window.show_search()
    dialog = window.search_dialog
    qtbot.keyClicks(dialog.query, "otters")
    qtbot.waitUntil(lambda: dialog.results.count() >= 1, timeout=3000)
    item = dialog.results.item(0)
    rect = dialog.results.visualItemRect(item)
    qtbot.mouseClick(dialog.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.controller.conversation_id == second and not dialog.isVisible()
    assert first != second


def test_the_info_popover_says_where_the_sampling_came_from_without_a_blank_gap(
        qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    send(qtbot, window, "Hello")
    answer = bubbles(window)[-1]
    qtbot.mouseClick(answer.actions.buttons["info"], Qt.MouseButton.LeftButton)
    popover = window.info_popover
    rows = dict(popover.rows)
    # speak() set this model's temperature; the rest came from gpt-oss's model card.
    assert rows["Sampling from"] == ("temperature: yours; top-p, top-k, min-p: "
                                     "model card (gpt-oss)")
    layout = popover.layout()
    # Exactly its content: the layout's height plus the frame the theme draws around it.
    margins = popover.contentsMargins()
    assert popover.height() == layout.sizeHint().height() + margins.top() + margins.bottom()
    title = layout.itemAt(0).widget()
    assert title.geometry().top() <= layout.contentsMargins().top() + 2  # nothing above the title


def test_a_short_chat_does_not_scroll_into_blank_space(qtbot, window):
    """Bug: the column took its messages' minimum heights (measured at the narrowest a label
    can be), so a short chat with a wrapped list scrolled, blank space under its last answer."""
    store = window.store
    cid = store.conversations.create("Sleep").id
    q = store.messages.add(cid, "user", "Give me three tips for a good night's sleep.")
    store.messages.add(cid, "assistant", "1. Keep a sleep diary. This can help you track your "
                       "sleep patterns.\n2. Avoid heavy meals before bedtime. This can interfere "
                       "with your body's ability to produce melatonin, a hormone that regulates "
                       "sleep.\n3. Stay hydrated.", parent_id=q.id)
    for height in (760, 400):  # room to spare, and a viewport shorter than the messages
        window.resize(1180, height)
        window.controller.open_conversation(cid)
        qtbot.wait(100)
        view = window.chat_view
        content = view.messages()[-1].geometry().bottom() + 16 + 2  # the column's margin
        assert view.widget().height() <= max(view.viewport().height(), content)
        assert view.verticalScrollBar().maximum() <= max(0, content - view.viewport().height())
