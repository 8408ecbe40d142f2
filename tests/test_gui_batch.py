"""The batch window, driven with clicks on the real window and SmolLM2."""

from __future__ import annotations

import csv

import pytest
from fixtures.batch import save_prompt, write_reviews
from fixtures.gui import bubbles, load, send

from app.gui import batch as batch_gui
from app.gui.qt import Qt
from storage.batches import Batches


@pytest.fixture
def batch_window(qtbot, window, smollm2_path):
    load(qtbot, window, smollm2_path, grammar=None, max_tokens=24, n_ctx=2048)
    save_prompt(window.store)
    batch_gui.show(window)
    win = window.batch_window
    win.reload_prompts()
    win.prompt.setCurrentIndex(win.prompt.findText("review"))
    qtbot.keyClicks(win.value_edits["kind"], "review")
    yield win
    win.close()
    qtbot.waitUntil(lambda: not win.driver or not win.driver.running, timeout=60000)


def cell(win, line: int, header: str) -> str:
    headers = [win.table.horizontalHeaderItem(c).text() for c in range(win.table.columnCount())]
    return win.table.item(line, headers.index(header)).text()


def finished(win) -> bool:
    return win.bar.maximum() > 0 and win.bar.value() == win.bar.maximum() and \
        not win.driver.running


def test_a_folder_fills_the_table_with_columns_and_a_failed_row(qtbot, window, batch_window,
                                                                tmp_path):
    win = batch_window
    win.add_paths([write_reviews(tmp_path / "docs", 3)])  # as a dropped folder
    qtbot.keyClicks(win.columns, "sentiment:positive|negative, stars:number, summary")
    win.parallel.setValue(3)
    win.max_tokens.setValue(64)
    qtbot.mouseClick(win.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: finished(win), timeout=180000)
    assert win.table.rowCount() == 4
    assert cell(win, 0, "File") == "broken.bin" and cell(win, 0, "Status") == "failed"
    assert "broken.bin" in cell(win, 0, "Reason")
    for line in (1, 2, 3):
        assert cell(win, line, "Status") == "done"
        assert cell(win, line, "sentiment") in ("positive", "negative")
        float(cell(win, line, "stars"))
    assert "3 of 4 rows" in win.status.text() or "4 of 4 rows" in win.status.text()
    assert win.retry_button.isEnabled() and not win.pause_button.isEnabled()

    out = tmp_path / "out.csv"
    win.export_to(str(out))  # what Export… does once its file dialog returns
    qtbot.waitUntil(lambda: "Exported 4 rows" in win.message.text(), timeout=10000)
    assert [r["status"] for r in csv.DictReader(out.open(encoding="utf-8"))] == [
        "failed", "done", "done", "done"]

    win.table.selectRow(1)
    assert win.chat_button.isEnabled()
    qtbot.mouseClick(win.chat_button, Qt.MouseButton.LeftButton)
    shown = bubbles(window)
    assert len(shown) == 2
    assert shown[1].answer_text.strip().startswith("{")
    chat = window.store.conversations.get(window.controller.conversation_id)
    assert chat.title == "review: review-00.txt"


def test_pause_resume_and_a_chat_turn_in_between(qtbot, window, batch_window, tmp_path):
    """The batch runs in slices on the engine's thread: a chat turn sent while it runs is
    answered between two slices, and the batch then carries on; Pause leaves no row running,
    Resume finishes the rest."""
    win = batch_window
    win.add_paths(sorted((write_reviews(tmp_path / "docs", 5, unreadable=False)).iterdir()))
    win.parallel.setValue(1)
    win.max_tokens.setValue(24)
    qtbot.mouseClick(win.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.driver is not None and win.driver.running, timeout=20000)

    send(qtbot, window, "Say hello.", timeout=120000)  # answered while the batch runs
    answer = window.store.messages.get(bubbles(window)[-1].message_id)
    assert answer.status == "complete" and answer.content.strip(), (answer.status, answer.error)
    counts = Batches(window.store).counts(win.job_id)
    assert counts.finished < counts.total  # the batch had not finished: it was interleaved

    qtbot.waitUntil(lambda: Batches(window.store).counts(win.job_id).done >= 1, timeout=120000)
    with qtbot.waitSignal(win.driver.stopped, timeout=60000) as stopped:
        qtbot.mouseClick(win.pause_button, Qt.MouseButton.LeftButton)
    assert stopped.args == ["paused"]
    batches = Batches(window.store)
    assert batches.get(win.job_id).status == "paused"
    paused = batches.counts(win.job_id)
    assert paused.running == 0
    assert win.pause_button.text() == "Resume"
    if paused.pending:
        qtbot.mouseClick(win.pause_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: finished(win), timeout=180000)
    assert batches.counts(win.job_id).done == 5
    assert batches.get(win.job_id).status == "done"


def test_start_without_documents_or_with_a_bad_schema_says_why(qtbot, batch_window):
    win = batch_window
    qtbot.mouseClick(win.start_button, Qt.MouseButton.LeftButton)
    assert "Add documents" in win.message.text()
    win.add_paths(["/nonexistent/x.txt"])
    win.schema.setPlainText('{"type": "string", "pattern": "a+"}')
    qtbot.mouseClick(win.start_button, Qt.MouseButton.LeftButton)
    assert "cannot constrain" in win.message.text() and win.job_id is None


def test_a_library_folder_adds_its_files(qtbot, window, tmp_path):
    from storage.library.folders import Library
    from storage.library.sync import scan

    docs = write_reviews(tmp_path / "shelf", 2, unreadable=False)
    scan(window.store, Library(window.store).add_folder(docs))
    batch_gui.show(window)
    win = window.batch_window
    win._fill_library_menu()
    (action,) = win.library_menu.actions()
    assert action.text() == "shelf"
    action.trigger()
    assert [win.files.item(i).text().rsplit("/", 1)[-1] for i in range(win.files.count())] == [
        "review-00.txt", "review-01.txt"]
    win.close()


def test_loading_another_model_mid_batch_pauses_it_safely(qtbot, window, batch_window,
                                                         tiny_gpt_oss, tmp_path):
    """The batch's context shares the loaded weights: another load stops the batch and frees
    that context first (the rows in flight back to pending); Resume goes on with the new model."""
    win = batch_window
    win.add_paths([write_reviews(tmp_path / "docs", 4, unreadable=False)])
    win.parallel.setValue(2)
    win.max_tokens.setValue(24)
    qtbot.mouseClick(win.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.driver is not None and win.driver.running, timeout=20000)
    with qtbot.waitSignal(win.driver.stopped, timeout=60000) as stopped:
        load(qtbot, window, tiny_gpt_oss, grammar=None, max_tokens=24)
    assert stopped.args == ["paused"]
    batches = Batches(window.store)
    assert batches.counts(win.job_id).running == 0
    assert batches.get(win.job_id).status == "paused"
    qtbot.mouseClick(win.pause_button, Qt.MouseButton.LeftButton)  # Resume
    qtbot.waitUntil(lambda: finished(win), timeout=180000)
    assert all(r.status in ("done", "failed") for r in batches.rows(win.job_id))
