"""Library folders in the window, with the real indexer process: Settings → Library (folders,
progress, pause and resume, skipped files and why), Ctrl+K's Library tab opening a passage
with its file and page, a cited answer from a library file, and the Tools menu's pinned
sources."""

from __future__ import annotations

from fixtures.gui import bubbles, load, send
from fixtures.library import write_hostile, write_library
from fixtures.tiny_models import calling

from app.core.library.pins import chat_folders
from app.core.library.service import index_all
from app.gui.qt import Qt, QtCore, QtWidgets

LIMIT = 60_000  # ms: far above what indexing these folders takes, a guard against a hang


def open_library(window):
    window.show_settings()
    button = next(b for b in window.settings_dialog.findChildren(QtWidgets.QPushButton)
                  if b.text() == "Library folders…")
    button.click()
    window.settings_dialog.reject()
    return window.library.settings


def test_library_settings_add_a_folder_show_progress_and_skipped_files(qtbot, window, tmp_path):
    root = write_library(tmp_path / "Docs")
    reasons = write_hostile(root / "odd")
    dialog = open_library(window)
    assert dialog.folders.topLevelItemCount() == 0 and not window.library.runner.running
    # A newcomer is told what to do, not "Up to date: 0 files indexed".
    assert dialog.progress_label.text() == "No folders yet: Add folder… chooses one."
    assert not dialog.pause_button.isEnabled() and not dialog.rescan_button.isEnabled()
    dialog.add_folder(str(root))
    assert window.library.runner.running  # the indexer process started for the new folder
    qtbot.waitUntil(lambda: dialog.progress_label.text() ==
                    f"Up to date: 5 files indexed ({len(reasons)} skipped)", timeout=LIMIT)
    row = dialog.folders.topLevelItem(0)
    assert [row.text(i) for i in range(4)] == [str(root), "5", str(len(reasons)), "0"]
    skipped = {dialog.skipped.topLevelItem(i).text(0): dialog.skipped.topLevelItem(i).text(1)
               for i in range(dialog.skipped.topLevelItemCount())}
    assert skipped["Docs/odd/pipe.txt"] == "a pipe (FIFO), not a file"
    assert dialog.skipped_label.text() == f"Skipped files ({len(reasons)})"
    assert dialog.exclude.text().startswith(".*, node_modules")
    # Pause, as a person would; a new file waits until Resume.
    dialog.pause_button.click()
    qtbot.waitUntil(lambda: dialog.progress_label.text().startswith("Paused"), timeout=LIMIT)
    assert dialog.pause_button.text() == "Resume"
    assert window.library.status.isHidden()  # paused with nothing pending: nothing to say
    (root / "late.md").write_text("Puffins nest in burrows.\n")
    dialog.rescan_button.click()
    qtbot.waitUntil(lambda: window.store.library.counts()["pending"] == 1, timeout=LIMIT)
    # The status bar says the library waits, for when Settings → Library is closed.
    status = window.library.status
    qtbot.waitUntil(lambda: status.text() == f"Library · Paused: {5 + len(reasons)} of "
                    f"{6 + len(reasons)} files indexed", timeout=LIMIT)
    assert status.isVisible()
    dialog.pause_button.click()
    qtbot.waitUntil(lambda: dialog.progress_label.text() ==
                    f"Up to date: 6 files indexed ({len(reasons)} skipped)", timeout=LIMIT)
    assert window.store.settings.get("library.paused") is False
    assert status.isHidden()  # up to date: the status bar is quiet again


def test_removing_a_folder_removes_it_from_search(qtbot, window, tmp_path):
    root = write_library(tmp_path / "Docs")
    window.store.library.add_folder(root)
    index_all(window.store)
    dialog = open_library(window)
    assert dialog.folders.topLevelItemCount() == 1
    dialog.remove_button.click()
    qtbot.waitUntil(lambda: dialog.folders.topLevelItemCount() == 0, timeout=LIMIT)
    qtbot.waitUntil(lambda: window.store.documents.list() == [], timeout=LIMIT)  # collected
    assert (root / "survey.pdf").exists()


def test_ctrl_k_finds_a_library_passage_and_opens_it_with_its_file_and_page(qtbot, window, tmp_path):
    root = write_library(tmp_path / "Docs")
    window.store.library.add_folder(root)
    index_all(window.store)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    dialog = window.search_dialog
    qtbot.keyClicks(dialog.query, "crevas")
    qtbot.waitUntil(lambda: dialog.passages.count() == 1, timeout=LIMIT)
    assert dialog.tabs.currentWidget() is dialog.passages  # no chat matched: the library shown
    assert dialog.tabs.tabText(1) == "Library (1)" and dialog.tabs.tabText(0) == "Chats (0)"
    shown = dialog.passages.itemWidget(dialog.passages.item(0)).text()
    assert "Docs/survey.pdf, p. 3" in shown and "<b>crevas</b>ses" in shown
    qtbot.keyClick(dialog.query, Qt.Key.Key_Return)
    passage = window.library.passage
    assert passage.windowTitle() == "Docs/survey.pdf, p. 3"
    assert passage.where.text() == f"{root / 'survey.pdf'} · page 3"
    assert "812 crevasses" in " ".join(passage.text().split())
    assert passage.marked == ["crevasses"]  # what was typed, marked where it matched
    cursor = passage.body.textCursor().position()
    assert passage.text()[cursor:cursor + 9] == "crevasses"  # and scrolled to
    assert passage.open_button.isEnabled() and passage.folder_button.isEnabled()
    opened = []  # the system's "open with" is replaced by a recorder: nothing opens in tests
    from app.gui import passage_dialog

    original, passage_dialog.open_file = passage_dialog.open_file, lambda p: opened.append(p) or True
    try:
        passage.open_button.click()
    finally:
        passage_dialog.open_file = original
    assert opened == [str(root / "survey.pdf")]
    passage.close()
    dialog.close()


def test_a_cited_answer_from_a_library_file_opens_the_passage(qtbot, window, tiny_gpt_oss, tmp_path):
    root = write_library(tmp_path / "Docs")
    window.store.library.add_folder(root)
    index_all(window.store)
    grammar = calling("functions.search_documents", '{"query":"crevasses","folder":"Docs"}')
    load(qtbot, window, tiny_gpt_oss, grammar=grammar)
    send(qtbot, window, "How many crevasses did the survey count?")
    answer = bubbles(window)[-1]
    block = answer.tools.blocks[0]
    assert block.status == "done" and "[1] Docs/survey.pdf, p. 3" in block.result
    window.show_citation(answer.message_id, 1)
    box = window.citation_box
    assert box.windowTitle() == "[1] Docs/survey.pdf, p. 3"
    assert box.where.text() == f"{root / 'survey.pdf'} · page 3"
    assert "812 crevasses" in " ".join(box.text().split())
    assert box.marked == ["crevasses"]  # the words the model searched for
    box.close()


def test_a_passage_marks_chinese_words_inside_sentences_and_english_prefixes(qtbot):
    from fixtures.library import CJK_FACT

    from app.core.library.sources import Source, search_terms
    from app.gui.passage_dialog import PassageDialog

    text = "Budgets and the budget office.\n" + CJK_FACT
    dialog = PassageDialog(Source("notes.txt", text, None, None, {}, search_terms("预算 budg")))
    qtbot.addWidget(dialog)
    assert dialog.marked == ["Budgets", "budget", "预算", "预算"]
    plain = PassageDialog(Source("notes.txt", text, None, None, {}))
    qtbot.addWidget(plain)
    assert plain.marked == [] and plain.body.extraSelections() == []


def test_the_tools_menu_pins_library_folders_as_a_chats_sources(qtbot, window, tmp_path):
    docs = window.store.library.add_folder(write_library(tmp_path / "Docs"))
    (tmp_path / "Notes").mkdir()
    notes = window.store.library.add_folder(tmp_path / "Notes")
    cid = window.controller.new_conversation()
    button = window.window_tools.button
    button.rebuild()
    menu = next(a.menu() for a in button.menu_.actions() if a.text() == "Documents from")
    whole, _separator, docs_action, notes_action = menu.actions()
    assert whole.isChecked() and not docs_action.isChecked()
    notes_action.setChecked(True)
    assert chat_folders(window.store, cid) == [notes.id]
    button.rebuild()
    menu = next(a.menu() for a in button.menu_.actions() if a.text().startswith("Documents from"))
    assert menu.title() == "Documents from (1 pinned)"
    whole = menu.actions()[0]
    assert not whole.isChecked()
    whole.trigger()
    assert chat_folders(window.store, cid) == [] and docs.id  # the whole library again


def test_closing_the_window_stops_the_indexer(qtbot, open_window, tmp_path):
    win = open_window()
    win.store.library.add_folder(write_library(tmp_path / "Docs"))
    win.library.runner.rescan()
    process = win.library.runner.process
    qtbot.waitUntil(lambda: win.library.runner.last.state == "idle", timeout=LIMIT)
    win.close()
    assert process.state() == QtCore.QProcess.ProcessState.NotRunning


def test_an_indexer_that_dies_is_started_again_and_finishes(qtbot, window, tmp_path):
    import os
    import signal

    root = tmp_path / "Many"
    root.mkdir()
    for n in range(200):
        (root / f"note{n:03}.md").write_text(f"# Note {n}\n\n" + "Keepers of lighthouses. " * 200)
    window.store.library.add_folder(root)
    runner = window.library.runner
    runner.rescan()
    first = runner.process
    qtbot.waitUntil(lambda: window.library.status.text().startswith("Library · Indexing "),
                    timeout=LIMIT)  # the status bar shows the background work
    qtbot.waitUntil(lambda: window.store.library.counts()["indexed"] >= 5, timeout=LIMIT)
    os.kill(first.processId(), signal.SIGKILL)  # as a reader crashing on a hostile file
    qtbot.waitUntil(lambda: runner.process is not first and runner.last.state == "idle",
                    timeout=LIMIT)
    counts = window.store.library.counts()
    assert counts["pending"] == 0 and counts["indexed"] + counts["skipped"] == 200
    assert window.library.status.isHidden()
    assert counts["skipped"] <= 1  # at most the file being read when it died


def test_counts_refreshed_while_indexing_keep_the_patterns_being_typed(qtbot, window, tmp_path):
    window.store.library.add_folder(write_library(tmp_path / "Docs"))
    (tmp_path / "Notes").mkdir()
    window.store.library.add_folder(tmp_path / "Notes")
    dialog = open_library(window)
    assert dialog.exclude.cursorPosition() == 0  # a long list shows its start
    dialog.exclude.clear()
    qtbot.keyClicks(dialog.exclude, "drafts/*")
    dialog.refresh()  # as the indexer's progress does every few seconds
    assert dialog.exclude.text() == "drafts/*"
    dialog.folders.setCurrentItem(dialog.folders.topLevelItem(1))  # another folder: its own
    assert dialog.exclude.text().startswith(".*, node_modules")
