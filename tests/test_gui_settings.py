"""The Settings dialog: choices saved, applied at once (theme, hidden reasoning) and used by the
next model load (context size, GPU offload, effort)."""

from __future__ import annotations

from fixtures.gui import load, send

from app.core import preferences
from app.gui.chat.messages import AssistantMessage
from app.gui.qt import QtGui, QtWidgets


def test_settings_are_saved_applied_and_used_by_the_next_load(qtbot, window, tiny_gpt_oss):
    app = QtWidgets.QApplication.instance()
    try:
        window.show_settings()
        dialog = window.settings_dialog
        dialog.theme.setCurrentIndex(2)  # Dark
        dialog.effort.setCurrentIndex(2)  # High
        dialog.n_ctx.setValue(2048)
        dialog.gpu.setCurrentIndex(2)  # CPU only
        dialog.hide_reasoning.setChecked(True)
        dialog.accept()
        saved = preferences.load(window.store)
        assert (saved.theme, saved.effort, saved.n_ctx, saved.gpu_layers, saved.hide_reasoning) == (
            "dark", "high", 2048, 0, True)
        assert app.palette().color(QtGui.QPalette.ColorRole.Window).lightness() < 80

        info = load(qtbot, window, tiny_gpt_oss)
        assert info.n_ctx == 2048  # a model without its own settings takes the defaults
        assert window.composer.effort_name == "high"
        send(qtbot, window, "Think about it")
        answer = [w for w in window.chat_view.messages() if isinstance(w, AssistantMessage)][-1]
        assert answer.reasoning.text and answer.reasoning.isHidden()  # kept, not shown
    finally:
        window.apply_theme("light")
    assert app.palette().color(QtGui.QPalette.ColorRole.Window).lightness() > 200


def test_bad_preferences_in_the_database_fall_back_to_defaults(store):
    store.settings.set(preferences.KEY, {"effort": "maximum", "n_ctx": "lots"})
    assert preferences.load(store) == preferences.Preferences()


def test_every_colour_in_the_stylesheet_exists_in_both_themes():
    import re

    from app.gui import theme
    from resources import read_text

    used = set(re.findall(r"@([A-Za-z]+)", read_text("style.qss")))
    assert used and used <= set(theme.LIGHT) and used <= set(theme.DARK)
    assert set(theme.LIGHT) == set(theme.DARK)


def test_moving_the_data_folder_copies_the_chats_and_is_used_next_time(tmp_path, monkeypatch):
    from storage import Store, default_data_dir, move_data_dir

    monkeypatch.delenv("HEARTH_DATA_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Store() as store:
        store.conversations.create("Kept across the move")
        target = move_data_dir(store, tmp_path / "elsewhere")
    assert default_data_dir() == target
    with Store() as moved:
        assert [c.title for c in moved.conversations.list()] == ["Kept across the move"]


def test_sampling_defaults_are_each_models_own_until_chosen_and_apply_without_a_reload(
        qtbot, window, smollm2_path):
    from app.core import provenance

    load(qtbot, window, smollm2_path, grammar=None, temperature=None, max_tokens=24)  # nothing of its own
    window.show_settings()
    dialog = window.settings_dialog
    assert dialog.recommended.isChecked() and not dialog.temperature.isEnabled()
    assert "next load" in " ".join(w.text() for w in dialog.findChildren(QtWidgets.QLabel))
    dialog.accept()
    assert preferences.load(window.store).temperature is None
    send(qtbot, window, "What is 2+2?")
    first = provenance.of(window.store.messages.list_for(window.controller.conversation_id)[-1])
    assert (first.temperature, first.top_p) == (0.2, 0.9)  # SmolLM2's card
    assert first.sampling_sources["temperature"] == "model card"

    loads = []
    window.session.loading.connect(loads.append)
    window.show_settings()
    dialog = window.settings_dialog
    dialog.recommended.setChecked(False)
    dialog.temperature.setValue(0.5)
    dialog.accept()
    send(qtbot, window, "And 3+3?")
    second = provenance.of(window.store.messages.list_for(window.controller.conversation_id)[-1])
    assert second.temperature == 0.5 and second.sampling_sources["temperature"] == "yours"
    assert loads == []  # the next answer, without loading the model again
