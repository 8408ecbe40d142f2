"""The prompt library in the window: the / palette, the variables form, presets at the top of
a conversation, and the library window's versions."""

from __future__ import annotations

from fixtures.gui import load, send, speak

from app.core import provenance
from app.gui.qt import Qt, QtCore, QtWidgets


def fill_form_soon(win, values: dict) -> None:
    """Answer the modal variables form once it is open (exec() blocks the test)."""
    def answer():
        dialog = win.prompts.variables_dialog
        for name, value in values.items():
            field = dialog.fields[name]
            if isinstance(field, QtWidgets.QComboBox):
                field.setCurrentText(value)
            elif isinstance(field, QtWidgets.QPlainTextEdit):
                field.setPlainText(value)
            else:
                field.setText(value)
        dialog.accept()
    QtCore.QTimer.singleShot(0, answer)


def test_slash_opens_the_palette_and_a_quick_prompt_fills_the_composer(qtbot, window):
    edit = window.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "/summ")
    assert window.palette.isVisible()
    assert window.palette.list.item(0).text().startswith("★ Summarize")
    fill_form_soon(window, {"length": "one sentence", "text": "Hearth runs models locally."})
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert not window.palette.isVisible()
    text = edit.toPlainText()
    assert text.startswith("Summarize the text below as one sentence.")
    assert text.rstrip().endswith("Hearth runs models locally.")


def test_escape_closes_the_palette_and_keeps_the_text(qtbot, window):
    edit = window.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "/tra")
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert not window.palette.isVisible() and edit.toPlainText() == "/tra"


def test_a_preset_chosen_at_the_top_shapes_every_turn(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss)
    bar = window.preset_bar
    names = [bar.combo.itemText(i) for i in range(bar.combo.count())]
    assert names[0] == "None" and "Code reviewer" in names
    bar.combo.setCurrentIndex(names.index("Code reviewer"))
    preset = window.store.prompts.by_name("Code reviewer")
    cid = window.controller.conversation_id
    assert window.store.conversations.get(cid).preset_id == preset.id
    assert window.composer.effort_name == "high"
    send(qtbot, window, "def f(): return 1/0")
    answer = window.store.messages.thread(cid)[-1]
    assert provenance.of(answer).instructions == preset.body
    assert answer.effort == "high"  # the preset's effort, applied
    # Reopening the chat shows the preset in use; None takes it away.
    window.controller.open_conversation(cid)
    assert bar.combo.currentText() == "Code reviewer"
    bar.combo.setCurrentIndex(0)
    assert window.store.conversations.get(cid).preset_id is None
    send(qtbot, window, "and now?")
    assert provenance.of(window.store.messages.thread(cid)[-1]).instructions is None


def test_library_window_edits_keep_versions_that_can_be_restored(qtbot, window):
    window.prompts.show_library()
    library = window.prompts.library
    items = [library.list.item(i).text() for i in range(library.list.count())]
    library.list.setCurrentRow(next(i for i, t in enumerate(items) if t.endswith("Rewrite")))
    original = library.body.toPlainText()
    library.body.setPlainText("Make this shorter: {{text:long}}")
    assert library.save()
    assert library.versions.count() == 1 and original[:40] in library.versions.itemText(0)
    library.restore_button.click()
    assert window.store.prompts.by_name("Rewrite").body == original
    library.name.setText("")
    assert not library.save() and "needs a name" in library.error.text()
    assert window.store.prompts.by_name("Rewrite") is not None  # nothing changed


def last_answer(win):
    return provenance.of(win.store.messages.thread(win.controller.conversation_id)[-1])


def test_a_presets_temperature_stays_in_its_own_chat(qtbot, window, tiny_gpt_oss):
    load(qtbot, window, tiny_gpt_oss, temperature=0.0)
    with_preset = window.controller.new_conversation()
    bar = window.preset_bar
    bar.combo.setCurrentIndex(bar.combo.findText("Code reviewer"))
    send(qtbot, window, "one")
    assert last_answer(window).temperature == 0.7
    window.controller.new_conversation()
    send(qtbot, window, "two")
    assert last_answer(window).temperature == 0.0  # the model's own
    window.controller.open_conversation(with_preset)
    send(qtbot, window, "three")
    assert last_answer(window).temperature == 0.7


def test_loading_a_model_keeps_the_open_chats_preset(qtbot, window, tiny_gpt_oss, tmp_path):
    """Bug: loading a model reset sampling from the model's settings and dropped the open
    chat's preset (its temperature and effort)."""
    load(qtbot, window, tiny_gpt_oss, temperature=0.0)
    window.controller.new_conversation()
    bar = window.preset_bar
    bar.combo.setCurrentIndex(bar.combo.findText("Code reviewer"))
    load(qtbot, window, tiny_gpt_oss, temperature=0.0)  # loaded again, as after a switch
    assert window.composer.effort_name == "high" and bar.combo.currentText() == "Code reviewer"
    send(qtbot, window, "def f(): pass")
    made = last_answer(window)
    assert (made.temperature, made.effort) == (0.7, "high")
    assert made.instructions == window.store.prompts.by_name("Code reviewer").body


def test_at_start_up_the_default_model_keeps_the_newest_chats_preset(qtbot, open_window, tiny_gpt_oss):
    """Bug: at start-up the restored default model overwrote the newest chat's preset."""
    from app.core import model_library, prompt_library
    from storage import Store

    with Store() as store:
        prompt_library.ensure_starters(store)
        chat = store.conversations.create("Reviewing")
        prompt_library.set_preset(store, chat.id, store.prompts.by_name("Code reviewer"))
        model_library.set_default(store, tiny_gpt_oss)
        speak(store, tiny_gpt_oss, temperature=0.0)
    win = open_window()
    qtbot.waitUntil(lambda: win.session.model is not None, timeout=20000)
    assert win.controller.conversation_id == chat.id
    assert win.composer.effort_name == "high"
    send(qtbot, win, "def g(): pass")
    made = last_answer(win)
    assert (made.temperature, made.effort) == (0.7, "high")
