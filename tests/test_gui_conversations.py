"""The conversation list and the chats as a whole: date groups and pins, search that jumps to
the message (on its branch), export and import, window size remembered."""

from __future__ import annotations

import datetime as dt
import json



from app.gui.chat.messages import UserMessage
from app.gui.main_window import MainWindow
from app.gui.qt import QtWidgets
from app.gui.sidebar import group_label
from storage import Conversation, Store


def _conversation(updated: dt.datetime, pinned: bool = False) -> Conversation:
    stamp = updated.astimezone(dt.timezone.utc).isoformat()
    return Conversation(1, "t", stamp, stamp, pinned=pinned)


def test_date_groups_read_like_a_person_would_say_them():
    today = dt.date(2026, 11, 22)
    noon = dt.datetime(2026, 11, 22, 12).astimezone()
    assert group_label(_conversation(noon), today) == "Today"
    assert group_label(_conversation(noon - dt.timedelta(days=1)), today) == "Yesterday"
    assert group_label(_conversation(noon - dt.timedelta(days=5)), today) == "Previous 7 days"
    assert group_label(_conversation(noon - dt.timedelta(days=20)), today) == "Previous 30 days"
    assert group_label(_conversation(noon - dt.timedelta(days=60)), today) == "September"
    assert group_label(_conversation(noon - dt.timedelta(days=400)), today) == "October 2025"
    assert group_label(_conversation(noon - dt.timedelta(days=400), pinned=True), today) == "Pinned"


def test_pinned_chats_come_first_under_their_own_heading(qtbot, window):
    c = window.controller
    older = c.new_conversation()
    c.new_conversation()
    window.store.conversations.rename(older, "Keep me handy")
    c.set_pinned(older, True)
    assert window.sidebar.headings() == ["Pinned", "Today"]
    assert window.sidebar.titles()[0] == "Keep me handy"


def _chat(store: Store, title: str, pairs: list[tuple[str, str]]) -> int:
    cid = store.conversations.create(title).id
    for question, answer in pairs:
        store.messages.add(cid, "user", question)
        store.messages.add(cid, "assistant", answer)
    return cid


def test_search_finds_a_message_and_opens_the_chat_there(qtbot, window):
    store = window.store
    _chat(store, "Cooking", [("How long to boil an egg?", "About nine minutes for hard.")])
    target = _chat(store, "Travel", [(f"Question {i}", f"Answer {i}") for i in range(80)]
                   + [("Where is the aurora best?", "Northern Norway, around Tromsø.")])
    window.refresh_conversations()
    window.show_search()
    dialog = window.search_dialog
    qtbot.keyClicks(dialog.query, "auror")  # a word's beginning is enough
    qtbot.waitUntil(lambda: dialog.results.count() == 1, timeout=3000)
    shown = dialog.results.itemWidget(dialog.results.item(0)).text()
    assert "Travel" in shown and "<b>aurora</b>" in shown
    dialog.query.returnPressed.emit()
    assert window.controller.conversation_id == target
    hit = window.controller.message_widget(window.store.messages.thread(target)[-2].id)  # the question
    assert hit is not None and hit.property("highlight")


def test_search_opens_a_hit_on_another_branch_by_switching_to_it(qtbot, window):
    store = window.store
    cid = _chat(store, "Branches", [("Pick a fruit", "Apple")])
    question = store.messages.thread(cid)[0]
    store.messages.add_reply(question.id)
    newest = store.messages.thread(cid)[-1]
    store.messages.update(newest.id, content="Quince", status="complete")
    old = [m for m in store.messages.siblings(newest.id) if m.content == "Apple"][0]
    window.open_search_hit(cid, old.id)
    assert [m.content for m in store.messages.thread(cid)] == ["Pick a fruit", "Apple"]
    assert window.controller.message_widget(old.id) is not None


def test_export_json_then_import_gives_the_same_chat(qtbot, window, tmp_path, monkeypatch):
    store = window.store
    cid = _chat(store, "Round trip", [("Hello <b>there</b>", "Hi! **Bold** and `code`.")])
    target = tmp_path / "chat.json"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.chat_files.export(cid, "json")  # written off the GUI thread
    qtbot.waitUntil(lambda: "Exported to" in window.statusBar().currentMessage(), timeout=10000)
    data = json.loads(target.read_text())
    assert data["title"] == "Round trip" and len(data["messages"]) == 2
    for ext in ("md", "html"):
        other = tmp_path / f"chat.{ext}"
        monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName",
                            lambda *a, o=other, **k: (str(o), ""))
        window.chat_files.export(cid, ext)
        qtbot.waitUntil(other.exists, timeout=10000)
        qtbot.waitUntil(lambda: "Hello" in other.read_text(), timeout=10000)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(window.controller.conversation_opened, timeout=10000):
        window.chat_files.choose_import()
    imported = window.controller.conversation_id
    assert imported != cid
    assert [(m.role, m.content) for m in store.messages.thread(imported)] == \
        [(m.role, m.content) for m in store.messages.thread(cid)]
    assert [w.text for w in window.chat_view.messages() if isinstance(w, UserMessage)] == \
        ["Hello <b>there</b>"]


def test_a_broken_import_says_why_and_adds_nothing(qtbot, window, tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    window.chat_files.choose_import()
    qtbot.waitUntil(lambda: window.banner.isVisible() and window.banner.kind == "error", timeout=10000)
    assert "bad.json" in window.banner.label.text()
    assert window.store.conversations.list() == []


def test_window_size_and_sidebar_width_are_remembered(qtbot):
    store = Store()
    first = MainWindow(store)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 500)  # within the offscreen screen's 800 × 600
    first.splitter.setSizes([310, 390])
    size, sizes = (first.width(), first.height()), first.splitter.sizes()
    assert size == (700, 500)
    first.close()
    second = MainWindow(store)
    qtbot.addWidget(second)
    second.show()
    try:
        assert (second.width(), second.height()) == size
        assert second.splitter.sizes() == sizes
    finally:
        second.close()
        store.close()


def test_a_long_chat_opens_with_its_latest_messages_and_earlier_ones_on_request(qtbot, window):
    cid = _chat(window.store, "Long", [(f"Question {i}", f"Answer {i}") for i in range(75)])
    window.controller.open_conversation(cid)
    view = window.chat_view
    assert len(view.messages()) == 30 and view.earlier_button.text() == "Show earlier messages (120)"
    view.earlier_button.click()
    assert len(view.messages()) == 60
    # A search hit far up the chat is revealed: the pages above it are loaded first.
    first = window.store.messages.thread(cid)[0]
    window.open_search_hit(cid, first.id)
    assert window.controller.message_widget(first.id) is not None
    assert view.earlier_button.isHidden()


def test_the_sidebar_lists_the_newest_chats_and_offers_the_older_ones(qtbot, window, monkeypatch):
    import app.gui.main_window as main_window

    monkeypatch.setattr(main_window, "SIDEBAR_PAGE", 3)
    for i in range(5):
        window.store.conversations.create(f"Chat {i}")
    window.refresh_conversations()
    assert window.sidebar.titles() == ["Chat 4", "Chat 3", "Chat 2"]
    more = window.sidebar.list.item(window.sidebar.list.count() - 1)
    assert more.text() == "Show 2 older chats…"
    window.sidebar.list.setCurrentItem(more)
    assert window.sidebar.titles() == [f"Chat {i}" for i in range(4, -1, -1)]
