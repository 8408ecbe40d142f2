"""The model screens, offscreen with real widgets: first-run welcome, the starter, a download
paused and resumed across a restart, the model manager, a refused load, and no network."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures.tiny_models import write_tiny_gpt_oss
from fixtures.gui import bubbles, send, speak

from app.core import model_library
from app.gui.main_window import MainWindow
from app.gui.qt import Qt, QtWidgets
from inference.models.catalog import RECOMMENDED
from storage import Store


@pytest.fixture
def open_window(qtbot):
    """Open MainWindows as the app does at launch (`start()`), closed and freed after."""
    opened = []

    def make() -> MainWindow:
        store = Store()
        win = MainWindow(store)
        qtbot.addWidget(win)
        win.show()
        win.start()
        opened.append((win, store))
        return win

    yield make
    for win, store in opened:
        win.close()
        store.close()


def in_hf_cache(repo: str, filename: str, source: Path) -> Path:
    """Put a file where huggingface_hub would (blob + snapshot symlink) under the test's HOME."""
    repo_dir = Path(os.environ["HOME"]) / ".cache" / "huggingface" / "hub" / f"models--{repo.replace('/', '--')}"
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    blob = repo_dir / "blobs" / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, blob)
    link = repo_dir / "snapshots" / ("a" * 40) / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    return link


def buttons(widget, text: str) -> list[QtWidgets.QPushButton]:
    return [b for b in widget.findChildren(QtWidgets.QPushButton) if b.text() == text and b.isVisible()]


def test_first_run_offers_models_on_disk_and_remembers_the_choice(qtbot, open_window, tiny_gpt_oss):
    path = in_hf_cache("someone/Tiny-GGUF", "tiny.gguf", tiny_gpt_oss)
    win = open_window()
    assert win.pages.currentWidget() is win.welcome
    qtbot.waitUntil(lambda: bool(win.welcome.entries), timeout=10000)  # scanned off the GUI thread
    assert [e.model.path for e in win.welcome.entries] == [path]
    assert "nothing is copied" in win.welcome.found_hint.text()
    qtbot.waitUntil(lambda: len(buttons(win.welcome, "Use")) == 1)  # shown on the next event loop pass
    (use,) = buttons(win.welcome, "Use")
    with qtbot.waitSignal(win.session.changed, timeout=20000):
        qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    assert win.pages.currentWidget() is win.chat_page
    assert model_library.default_model(win.store) == path
    speak(win.store, path)  # random weights: a grammar makes them write harmony
    send(qtbot, win, "Hello")
    assert bubbles(win)[-1].status == "complete"
    win.close()

    again = open_window()  # a restart goes straight to the chat, loading the default
    assert again.pages.currentWidget() is again.chat_page
    qtbot.waitUntil(lambda: again.session.model is not None, timeout=20000)
    assert again.session.model.path == str(path)


def test_the_starter_model_chats_at_once(qtbot, open_window, smollm2_path):
    win = open_window()
    assert win.welcome.starter_button.isVisible()
    with qtbot.waitSignal(win.session.changed, timeout=20000) as loaded:
        qtbot.mouseClick(win.welcome.starter_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0].path == str(smollm2_path)
    speak(win.store, smollm2_path, None, max_tokens=16)
    send(qtbot, win, "What is 2+2?")
    assert bubbles(win)[-1].status == "complete" and bubbles(win)[-1].answer_text.strip()


def test_download_pauses_survives_a_restart_resumes_and_is_verified(
        qtbot, open_window, fake_hub, monkeypatch, smollm2_path):
    # A real GGUF served under gpt-oss-20b's repository and name.
    fake_hub.add_file(RECOMMENDED.repo_id, RECOMMENDED.filename, smollm2_path)
    fake_hub.set_faults(RECOMMENDED.repo_id, RECOMMENDED.filename, throttle_bps=20_000_000)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    win = open_window()
    panel = win.welcome.download_panel
    with qtbot.waitSignal(win.downloads.progress, timeout=20000,
                          check_params_cb=lambda key, p: p.done > 5_000_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.pause_button.isVisible() and " of " in panel.detail.text()
    assert "/s" in panel.detail.text()  # speed, then time left once known
    with qtbot.waitSignal(win.downloads.paused, timeout=20000):
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.start_button.text() == "Resume download"
    assert panel.detail.text().startswith("Paused:")
    win.close()  # quit mid-download

    fake_hub.set_faults(RECOMMENDED.repo_id, RECOMMENDED.filename)
    fake_hub.clear_requests()
    win = open_window()
    panel = win.welcome.download_panel
    assert panel.start_button.text() == "Resume download"
    with qtbot.waitSignal(win.session.changed, timeout=30000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    dest = model_library.download_destination()
    ranges = [r.headers.get("range") for r in fake_hub.requests if "/blobs/" in r.path]
    assert len(ranges) == 1 and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"
    assert dest.read_bytes() == smollm2_path.read_bytes()
    assert win.session.model.path == str(dest)
    assert model_library.default_model(win.store) == dest
    # hashed on the way in: the app will not re-read the file to learn its sha256
    assert win.store.model_files.cached_sha256(str(dest)) == \
        hashlib.sha256(smollm2_path.read_bytes()).hexdigest()


def test_model_manager_lists_sets_defaults_loads_and_deletes_only_its_own(
        qtbot, open_window, tiny_gpt_oss, tmp_path, monkeypatch):
    theirs = in_hf_cache("someone/Tiny-GGUF", "tiny.gguf", tiny_gpt_oss)
    ours = model_library.models_dir() / "acme" / "Other-GGUF" / "other.gguf"
    ours.parent.mkdir(parents=True)
    write_tiny_gpt_oss(ours, seed=7)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.gguf").write_text("not a model\n" * 20)
    win = open_window()
    model_library.add_folder(win.store, folder)
    win.show_model_manager()
    manager = win.manager
    qtbot.waitUntil(lambda: manager.tree.topLevelItemCount() == 4, timeout=10000)  # + the starter
    rows = {manager.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): manager.tree.topLevelItem(i)
            for i in range(4)}

    manager.tree.setCurrentItem(rows[str(folder / "notes.gguf")])
    assert rows[str(folder / "notes.gguf")].text(5) == "broken"
    assert "not a GGUF model" in manager.fit_text.text() and not manager.load_button.isEnabled()

    manager.tree.setCurrentItem(rows[str(theirs)])
    assert not manager.delete_button.isEnabled()  # not Hearth's to delete
    manager.ctx.setValue(2048)
    manager.effort.setCurrentIndex(2)
    assert model_library.prefs(win.store, theirs) == model_library.ModelPrefs(n_ctx=2048, effort="high")
    with qtbot.waitSignal(win.session.changed, timeout=20000) as loaded:
        qtbot.mouseClick(manager.load_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0].n_ctx == 2048  # the per-model context size
    assert win.composer.effort_name == "high"  # and its effort
    qtbot.mouseClick(manager.default_button, Qt.MouseButton.LeftButton)
    assert model_library.default_model(win.store) == theirs
    assert manager.tree.currentItem().text(0).startswith("★")

    manager.tree.setCurrentItem(next(manager.tree.topLevelItem(i) for i in range(4) if
                                     manager.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == str(ours)))
    assert manager.delete_button.isEnabled()
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        lambda *a, **k: QtWidgets.QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(manager.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: manager.tree.topLevelItemCount() == 3, timeout=10000)
    assert not ours.exists() and not ours.parent.exists() and theirs.exists()


def test_a_load_that_would_swap_is_refused_with_the_reason_and_an_override(
        qtbot, open_window, tiny_gpt_oss, monkeypatch):
    import inference.runtime as runtime

    real = runtime.probe()
    # This machine, with almost no free memory left.
    monkeypatch.setattr(runtime, "probe", lambda: replace(real, ram_available=1_000_000))
    win = open_window()
    with qtbot.waitSignal(win.session.refused, timeout=20000):
        win.use_model(str(tiny_gpt_oss))
    assert win.banner.kind == "error" and "swap" in win.banner.label.text()
    assert win.banner.button.text() == "Load anyway" and win.session.model is None
    with qtbot.waitSignal(win.session.changed, timeout=20000,
                          check_params_cb=lambda info: info is not None):
        qtbot.mouseClick(win.banner.button, Qt.MouseButton.LeftButton)
    assert win.session.model.path == str(tiny_gpt_oss)


def test_no_network_connection_at_start_up_or_while_chatting(qtbot, open_window, tiny_gpt_oss):
    """Only a download the user starts may touch the network. An audit hook sees every
    connection Python makes (huggingface-hub, httpx, urllib, sockets)."""
    attempts = []

    def hook(event: str, args: tuple) -> None:
        if event == "socket.connect" and args[0].family != socket.AF_UNIX:
            attempts.append(args[1])
        elif event == "socket.getaddrinfo":
            attempts.append(args[0])

    sys.addaudithook(hook)  # cannot be removed; harmless once `watching` is off
    path = in_hf_cache("someone/Tiny-GGUF", "tiny.gguf", tiny_gpt_oss)
    win = open_window()
    qtbot.waitUntil(lambda: bool(win.welcome.entries), timeout=10000)
    win.show_model_manager()
    qtbot.waitUntil(lambda: win.manager.tree.topLevelItemCount() > 0, timeout=10000)
    with qtbot.waitSignal(win.session.changed, timeout=20000):
        win.use_model(str(path))
    speak(win.store, path)
    send(qtbot, win, "Are you online?")
    assert attempts == []


@pytest.mark.parametrize("first", ["smollm2", "tiny"])
def test_only_the_model_asked_for_last_is_ever_shown_as_loaded(qtbot, window, tiny_gpt_oss,
                                                               smollm2_path, first):
    """Bug: a load superseded by a newer one could finish later and show the wrong model."""
    paths = {"smollm2": str(smollm2_path), "tiny": str(tiny_gpt_oss)}
    last = paths["tiny" if first == "smollm2" else "smollm2"]
    shown = []
    window.session.loaded.connect(lambda info: shown.append(info.path))
    window.session.load(paths[first])
    window.session.load(last)  # at once, while the first is still loading
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=30000)
    qtbot.wait(200)  # anything still queued from the first load arrives now
    assert window.session.model.path == last and shown == [last]
    assert window.model_label.text() == window.session.model.name


def test_the_manager_marks_loaded_and_default_lists_an_opened_file_and_load_makes_it_default(
        qtbot, open_window, tiny_gpt_oss, tmp_path, monkeypatch):
    (tmp_path / "somewhere").mkdir()
    elsewhere = write_tiny_gpt_oss(tmp_path / "somewhere" / "mine.gguf", seed=5)
    win = open_window()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(elsewhere), ""))
    with qtbot.waitSignal(win.session.changed, timeout=20000):
        win.open_action.trigger()  # Open model… a file in no searched folder
    win.show_model_manager()
    manager = win.manager

    def row(path):
        items = [manager.tree.topLevelItem(i) for i in range(manager.tree.topLevelItemCount())]
        return next((i for i in items if i.data(0, Qt.ItemDataRole.UserRole) == str(path)), None)

    qtbot.waitUntil(lambda: row(elsewhere) is not None, timeout=10000)
    assert row(elsewhere).text(0).startswith("★ ") and row(elsewhere).text(0).endswith("· loaded")
    assert row(elsewhere).text(1) == "Opened file"
    manager.tree.setCurrentItem(row(elsewhere))
    assert not manager.load_button.isEnabled()  # it is loaded already

    # Another model, Loaded from the manager: it becomes the one restored at the next start.
    model_library.add_folder(win.store, tiny_gpt_oss.parent)
    manager.refresh()
    qtbot.waitUntil(lambda: row(tiny_gpt_oss) is not None, timeout=10000)
    manager.tree.setCurrentItem(row(tiny_gpt_oss))
    manager.load_state.setText("A line about something else")
    manager.tree.setCurrentItem(row(elsewhere))
    assert manager.load_state.text() == ""  # stale lines go
    manager.tree.setCurrentItem(row(tiny_gpt_oss))
    with qtbot.waitSignal(win.session.changed, timeout=20000):
        qtbot.mouseClick(manager.load_button, Qt.MouseButton.LeftButton)
    assert model_library.default_model(win.store) == Path(tiny_gpt_oss)
    assert row(tiny_gpt_oss).text(0).startswith("★ ") and row(tiny_gpt_oss).text(0).endswith("· loaded")
    assert not row(elsewhere).text(0).startswith("★") and "loaded" not in row(elsewhere).text(0)
    assert manager.load_state.text().startswith("Loaded")
    assert row(elsewhere) is not None  # still listed: it was opened once


def test_sampling_changes_in_the_manager_apply_to_the_next_answer_without_a_reload(
        qtbot, window, tiny_gpt_oss):
    from fixtures.gui import load

    load(qtbot, window, tiny_gpt_oss)  # speak() made the temperature 0: the person's
    window.show_model_manager()
    manager = window.manager
    qtbot.waitUntil(lambda: manager.tree.topLevelItemCount() > 0, timeout=10000)
    target = next(manager.tree.topLevelItem(i) for i in range(manager.tree.topLevelItemCount())
                  if manager.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == str(tiny_gpt_oss))
    manager.tree.setCurrentItem(target)
    assert manager.sources["temperature"].text() == "yours"
    assert manager.sources["top_p"].text() == "model card (gpt-oss)"
    assert "next answer" in manager.applies.text() and "next loads" in manager.applies.text()
    manager.top_k.setValue(7)  # now the person's
    assert manager.sources["top_k"].text() == "yours"
    loads = []
    window.session.loading.connect(loads.append)
    send(qtbot, window, "Again")
    made = window.store.messages.list_for(window.controller.conversation_id)[-1]
    from app.core import provenance

    assert provenance.of(made).top_k == 7 and loads == []  # the next turn, no reload
    manager.use_recommended()
    assert manager.sources["temperature"].text() == "model card (gpt-oss)"
    assert manager.temperature.value() == 1.0

    manager.ctx.setValue(2048)  # the context size needs a reload, and says so
    assert manager.reload_button.isVisible()
    with qtbot.waitSignal(window.session.changed, timeout=20000) as reloaded:
        manager.reload_button.click()
    assert reloaded.args[0].n_ctx == 2048 and not manager.reload_button.isVisible()


def test_a_failed_download_says_why_in_words_and_the_welcome_offers_to_try_again(
        qtbot, open_window, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")  # as offline: the name never resolves
    win = open_window()
    panel = win.welcome.download_panel
    with qtbot.waitSignal(win.downloads.failed, timeout=20000):
        panel.start_button.click()
    assert panel.detail.text().startswith("No internet connection — Hearth could not reach hub.invalid")
    assert "Errno" not in panel.detail.text()
    assert panel.start_button.isVisible() and panel.start_button.text() == "Try again"
    assert win.welcome.starter_button.isEnabled()  # the rest of the welcome still works
    with qtbot.waitSignal(win.downloads.failed, timeout=20000):
        panel.start_button.click()  # and trying again really tries
