"""Documents in the window: attach (button, paste, drop), chips with what was read or why not,
the plan shown on the answer, and citations that open their passage."""

from __future__ import annotations

from fixtures.gui import load, send

from app.core import documents, provenance
from app.gui.chat.messages import AssistantMessage, UserMessage
from app.gui.qt import Qt, QtCore

NOTES = "Hearth notes\n\nThe launch code is PELICAN-42.\nNothing else matters here.\n"


def attach(qtbot, win, *paths):
    win.attacher.attach([str(p) for p in paths])
    qtbot.waitUntil(lambda: not win.composer.tray.busy, timeout=20000)
    return win.composer.tray.chips()


def test_an_attached_file_goes_with_the_message_and_the_answer_says_what_was_read(
        qtbot, window, tiny_gpt_oss, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    load(qtbot, window, tiny_gpt_oss)
    (chip,) = attach(qtbot, window, notes)
    assert chip.ready and "tokens" in chip.detail.text()
    send(qtbot, window, "What is the launch code?")
    assert window.composer.tray.chips() == []
    user = [w for w in window.chat_view.messages() if isinstance(w, UserMessage)][-1]
    assert user.attached.text() == "Attached: notes.txt"
    answer = [w for w in window.chat_view.messages() if isinstance(w, AssistantMessage)][-1]
    assert answer.documents_line.text() == "Read notes.txt: whole"
    saved = provenance.of(window.store.messages.get(answer.message_id)).documents
    assert saved["documents"][0]["mode"] == "whole"
    # The model saw the file's text in front of the question.
    turn_user = window.store.messages.get(user.message_id)
    assert [d.name for d in window.store.documents.for_message(turn_user.id)] == ["notes.txt"]


def test_a_file_hearth_cannot_read_says_why_on_its_chip_and_is_not_sent(qtbot, window, tmp_path):
    binary = tmp_path / "photo.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    (chip,) = attach(qtbot, window, binary)
    assert not chip.ready and chip.error and "photo.bin" in chip.error
    assert window.attacher.take() == ()  # nothing to send with the next message
    assert window.composer.tray.chips() == [chip]  # still there, with its message


def test_pasting_or_dropping_files_attaches_them(qtbot, window, tmp_path):
    notes = tmp_path / "pasted.md"
    notes.write_text("# Title\n\nSome text.\n")
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(notes))])
    window.composer.edit.insertFromMimeData(mime)  # what Ctrl+V and a drop on the composer do
    qtbot.waitUntil(lambda: not window.composer.tray.busy, timeout=20000)
    assert [c.name for c in window.composer.tray.chips()] == ["pasted.md"]
    assert window.composer.edit.toPlainText() == ""  # the path did not land as text


def test_a_citation_in_the_answer_opens_its_passage(qtbot, window, tmp_path):
    store = window.store
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    doc = documents.ingest(store, notes)
    cid = store.conversations.create().id
    user = store.messages.add(cid, "user", "What is the code?")
    store.documents.attach(user.id, [doc.id])
    plan = documents.plan_for_turn(store, None, cid, "launch code", 4000)
    answer = store.messages.add(cid, "assistant", "It is PELICAN-42 [1].")
    store.messages.update(answer.id, stats={"documents": plan.as_dict()})
    window.controller.open_conversation(cid)
    widget = window.controller.message_widget(answer.id)
    assert 'href="cite:1"' in widget.answer.text()
    widget.answer.linkActivated.emit("cite:1")
    box = window.citation_box
    assert box.windowTitle() == "[1] notes.txt, lines 1–4" and "PELICAN-42" in box.text()
    box.close()


def test_a_refused_send_keeps_the_attachments_and_the_text(qtbot, window, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES)
    attach(qtbot, window, notes)
    window.composer.edit.setPlainText("Summarise it")
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)  # no model loaded: refused
    assert window.composer.edit.toPlainText() == "Summarise it"
    assert [c.name for c in window.composer.tray.chips()] == ["notes.txt"]
