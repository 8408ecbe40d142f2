"""The variables form in the window: however many fields a prompt asks for, OK and Cancel
stay on screen and the window never freezes."""

from __future__ import annotations

import json
import time

from app.gui.qt import QtCore, QtWidgets
from storage.clock import utc_now


def when_the_form_opens(win, check) -> None:
    """Run `check(dialog)` once the modal form is open (exec() blocks the test); the form is
    closed after it, even if it fails."""
    def run():
        dialog = win.prompts.variables_dialog
        try:
            check(dialog)
        finally:
            if dialog.isVisible():
                dialog.reject()
    QtCore.QTimer.singleShot(0, run)


def on_screen(widget, dialog) -> bool:
    """`widget` lies inside the dialog, and the dialog inside the screen."""
    screen = dialog.screen().availableGeometry()
    inside = QtCore.QRect(widget.mapTo(dialog, QtCore.QPoint(0, 0)), widget.size())
    return (widget.isVisible() and dialog.rect().contains(inside)
            and dialog.height() <= screen.height())


def test_a_long_form_scrolls_and_keeps_ok_and_cancel_on_screen(qtbot, window):
    """50 fields (the most a prompt may ask for) overflowed the screen, OK and Cancel
    below its edge: the fields now scroll and the buttons stay put."""
    body = "\n".join(f"{{{{item_{n}}}}}" for n in range(48)) + "\n{{notes:long}}\n{{tone:dry|warm}}"
    prompt = window.store.prompts.create(name="Inventory", body=body)
    seen = {}

    def answer(dialog):
        buttons = dialog.findChild(QtWidgets.QDialogButtonBox)
        seen["on screen"] = on_screen(buttons, dialog)
        scroll = dialog.findChild(QtWidgets.QScrollArea)
        last = dialog.fields["tone"]
        scroll.ensureWidgetVisible(last)
        seen["last reachable"] = scroll.viewport().rect().contains(
            QtCore.QRect(last.mapTo(scroll.viewport(), QtCore.QPoint(0, 0)), last.size()))
        for name, field in dialog.fields.items():
            if isinstance(field, QtWidgets.QLineEdit):
                field.setText(f"value of {name}")
            elif isinstance(field, QtWidgets.QPlainTextEdit):
                field.setPlainText("a note")
        dialog.accept()

    when_the_form_opens(window, answer)
    window.prompts.use_prompt(prompt)
    assert seen == {"on screen": True, "last reachable": True}
    text = window.composer.edit.toPlainText()
    assert "value of item_0" in text and "value of item_47" in text and text.endswith("dry")


def test_an_old_prompt_with_10000_variables_shows_a_bounded_form_at_once(qtbot, window):
    """Saved before the limit: the form showed 10,000 fields after ~9 s of a frozen window
    (1 s to build, 8 s to lay out). Now the first 50 and a note; it cannot be sent."""
    body = " ".join(f"{{{{field{n}}}}}" for n in range(10_000))
    now = utc_now()
    with window.store.transaction():  # as an older Hearth stored it, unchecked
        window.store.db.execute(
            "INSERT INTO prompts (name, kind, body, tags, favourite, created_at, updated_at)"
            " VALUES (?, 'quick', ?, ?, 0, ?, ?)", ("Huge form", body, json.dumps([]), now, now))
    prompt = window.store.prompts.by_name("Huge form")
    seen = {}

    def answer(dialog):
        seen["opened after"] = time.monotonic() - started
        seen["fields"] = len(dialog.fields)
        seen["note"] = dialog.error.text() if dialog.error.isVisible() else ""
        seen["ok"] = dialog.ok.isEnabled()
        seen["cancel on screen"] = on_screen(
            dialog.findChild(QtWidgets.QDialogButtonBox), dialog)
        dialog.accept()  # refused: the form stays open
        seen["still open"] = dialog.isVisible()

    when_the_form_opens(window, answer)
    started = time.monotonic()
    window.prompts.use_prompt(prompt)
    assert seen["opened after"] < 5, "a guard against the freeze, far above the 0.02 s it takes"
    assert seen["fields"] == 50 and not seen["ok"] and seen["still open"]
    assert seen["note"] == ("“Huge form” has 10,000 variables; this form shows the first 50. "
                            "Edit the prompt to have at most 50 to use it.")
    assert seen["cancel on screen"]
    assert window.composer.edit.toPlainText() == ""
