"""Where the user writes: Enter sends, Shift+Enter breaks the line; the reasoning control the
model takes (an effort slider, a think switch, or none); Send/Stop. It grows with its text."""

from __future__ import annotations

from app.gui.chat.attachments import AttachmentTray
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets, Signal
from common.values import EFFORTS

MIN_HEIGHT = 84  # about three lines


class MessageEdit(QtWidgets.QPlainTextEdit):
    submitted = Signal()
    up_in_empty = Signal()  # Up arrow with nothing typed: edit the last message
    files_given = Signal(list)  # paths dropped or pasted: attachments, not text
    palette = None  # the / palette, when the window gives one

    def canInsertFromMimeData(self, source) -> bool:  # noqa: N802 (Qt's name)
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source) -> None:  # noqa: N802 (Qt's name)
        files = [u.toLocalFile() for u in source.urls() if u.isLocalFile()] if source.hasUrls() else []
        if files:
            self.files_given.emit(files)
        else:
            super().insertFromMimeData(source)

    def event(self, event: QtCore.QEvent) -> bool:  # noqa: D401 (Qt's name)
        # Esc closes the palette before the window's Esc (Stop) shortcut can take it.
        if (event.type() == QtCore.QEvent.Type.ShortcutOverride and self.palette is not None
                and self.palette.isVisible() and event.key() == Qt.Key.Key_Escape):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if self.palette is not None and self.palette.isVisible():
            if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self.palette.move_selection(-1 if event.key() == Qt.Key.Key_Up else 1)
                return
            if enter and self.palette.list.count():
                self.palette.pick_current()
                return
            if enter:  # nothing matches: a message that merely starts with "/"
                self.palette.hide()
            if event.key() == Qt.Key.Key_Escape:
                self.palette.hide()
                return
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Up and not self.toPlainText():
            self.up_in_empty.emit()
            return
        super().keyPressEvent(event)


class Composer(QtWidgets.QFrame):
    send_requested = Signal(str, str)  # text, effort
    attach_requested = Signal(list)  # file paths
    stop_requested = Signal()
    edit_last_requested = Signal()
    edit_cancel_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.edit = MessageEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Ask anything — Enter sends, Shift+Enter for a new line")
        self.edit.setTabChangesFocus(True)
        self.edit.setFixedHeight(MIN_HEIGHT)
        self.edit.document().documentLayout().documentSizeChanged.connect(self.fit_height)
        self.edit.submitted.connect(self._on_submit)
        self.edit.up_in_empty.connect(self.edit_last_requested)
        self.edit.files_given.connect(self.attach_requested)
        self.tray = AttachmentTray()
        self.attach_button = QtWidgets.QToolButton()
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setText("Attach…")
        self.attach_button.setToolTip("Attach documents: PDF, Word, HTML, Markdown, text, code, "
                                      "CSV (or drop them here, or paste them)")
        self.attach_button.setAutoRaise(True)
        self.attach_button.clicked.connect(self._choose_files)
        self.editing_note = QtWidgets.QLabel("Editing a message: sending makes a new branch "
                                             "beside the old one.")
        self.editing_note.setObjectName("editingNote")
        self.cancel_edit_button = QtWidgets.QToolButton()
        self.cancel_edit_button.setText("Cancel edit")
        self.cancel_edit_button.setAutoRaise(True)
        self.cancel_edit_button.clicked.connect(self.edit_cancel_requested)
        self.context_meter = QtWidgets.QLabel()
        self.context_meter.setObjectName("contextMeter")
        self.edit.textChanged.connect(self._update_palette)

        self.effort = QtWidgets.QSlider(Qt.Orientation.Horizontal)
        self.effort.setObjectName("effortSlider")
        self.effort.setRange(0, len(EFFORTS) - 1)
        self.effort.setPageStep(1)
        self.effort.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
        self.effort.setFixedWidth(110)
        self.effort.setToolTip("Reasoning effort for the next answer: more thinking, slower, often better")
        self.effort_label = QtWidgets.QLabel()
        self.effort_label.setObjectName("effortLabel")
        self.effort.valueChanged.connect(self._show_effort)
        self.set_effort("medium")
        # Moved by the person (not by a chat's or model's defaults): it then stays put.
        self.effort_chosen = False
        self.effort.actionTriggered.connect(lambda _action: setattr(self, "effort_chosen", True))
        self.effort_box = QtWidgets.QWidget()  # shown for models that take an effort
        effort_row = QtWidgets.QHBoxLayout(self.effort_box)
        effort_row.setContentsMargins(0, 0, 0, 0)
        effort_row.addWidget(QtWidgets.QLabel("Reasoning"))
        effort_row.addWidget(self.effort)
        effort_row.addWidget(self.effort_label)
        self.thinking = QtWidgets.QCheckBox("Think first")  # for <think> models with a switch
        self.thinking.setObjectName("thinkingSwitch")
        self.thinking.setChecked(True)
        self.thinking.setToolTip("This model can reason in a block of its own before it "
                                 "answers: slower, often better. Off, it answers at once.")
        self.reasoning_kind: str | None = None
        self.set_reasoning(None)

        self.button = QtWidgets.QPushButton("Send")
        self.button.setObjectName("sendButton")
        self.button.setDefault(True)
        self.button.clicked.connect(self._on_button)
        self._generating = False

        controls = QtWidgets.QHBoxLayout()
        self._controls = controls
        controls.addWidget(self.attach_button)
        controls.addWidget(self.effort_box)
        controls.addWidget(self.thinking)
        controls.addStretch(1)
        controls.addWidget(self.context_meter)
        controls.addWidget(self.button)
        editing = QtWidgets.QHBoxLayout()
        editing.addWidget(self.editing_note)
        editing.addWidget(self.cancel_edit_button)
        editing.addStretch(1)
        self._editing_row = QtWidgets.QWidget()
        self._editing_row.setLayout(editing)
        editing.setContentsMargins(0, 0, 0, 0)
        self._editing_row.hide()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(16, 8, 16, 12)
        layout.addWidget(self._editing_row)
        layout.addWidget(self.tray)
        layout.addWidget(self.edit)
        layout.addLayout(controls)

    def add_control(self, widget: QtWidgets.QWidget) -> None:
        """Another control beside Attach (the Tools menu)."""
        self._controls.insertWidget(1, widget)

    @property
    def effort_name(self) -> str:
        return EFFORTS[self.effort.value()]

    def set_effort(self, name: str) -> None:
        self.effort.setValue(EFFORTS.index(name) if name in EFFORTS else 1)
        self._show_effort()

    def _show_effort(self) -> None:
        self.effort_label.setText(self.effort_name.capitalize())

    def set_reasoning(self, kind: str | None) -> None:
        """The control the loaded model takes: "effort" (gpt-oss) the slider, "switch" (a
        <think> template with enable_thinking) the switch, anything else neither. Each keeps
        where the person left it."""
        self.reasoning_kind = kind
        self.effort_box.setVisible(kind == "effort")
        self.thinking.setVisible(kind == "switch")

    def thinking_choice(self) -> bool | None:
        """The think switch for the next turn; None where the model has none."""
        return self.thinking.isChecked() if self.reasoning_kind == "switch" else None

    def fit_height(self, *_args) -> None:
        """As tall as the text, from about three lines up to a third of the window."""
        lines = self.edit.document().documentLayout().documentSize().height()  # in lines
        chrome = self.edit.height() - self.edit.viewport().height()
        margin = 2 * self.edit.document().documentMargin()
        wanted = int(lines * self.edit.fontMetrics().lineSpacing() + margin + chrome) + 2
        window = self.window()
        cap = window.height() // 3 if window is not self else 4 * MIN_HEIGHT
        height = max(MIN_HEIGHT, min(wanted, max(MIN_HEIGHT, cap)))
        if height != self.edit.height():
            self.edit.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.fit_height()  # a new width wraps the text anew

    def set_draft(self, text: str) -> None:
        """Show a chat's kept draft (or nothing), the cursor at its end."""
        if self.editing:
            return
        self.edit.setPlainText(text)
        self.edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)

    def set_generating(self, generating: bool) -> None:
        """Send becomes Stop while an answer streams."""
        self._generating = generating
        self.button.setText("Stop" if generating else "Send")
        self.button.setProperty("stop", generating)
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)

    def _on_button(self) -> None:
        if self._generating:
            self.stop_requested.emit()
        else:
            self._on_submit()

    def _on_submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if not text or self._generating:
            return
        self.edit.clear()
        self.send_requested.emit(text, self.effort_name)

    def _choose_files(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Attach documents", "", "Documents (*.pdf *.docx *.html *.htm *.md *.txt *.csv "
            "*.py *.js *.ts *.json *.c *.cpp *.h *.rs *.go *.java *.rb *.sh);;All files (*)")
        if paths:
            self.attach_requested.emit(paths)

    def set_palette(self, palette) -> None:
        """Typing / at the start of an empty composer opens the saved-prompt palette."""
        self.edit.palette = palette

    def _update_palette(self) -> None:
        palette = self.edit.palette
        if palette is None:
            return
        text = self.edit.toPlainText()
        if text.startswith("/") and "\n" not in text:
            if palette.isVisible():
                palette.filter(text)
            else:
                palette.show_for(text, self.edit)
        elif palette.isVisible():
            palette.hide()

    def insert_prompt_text(self, text: str) -> None:
        """A quick prompt replaces the /query typed to find it."""
        self.edit.setPlainText(text)
        self.edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
        self.edit.setFocus()

    @property
    def editing(self) -> bool:
        return not self._editing_row.isHidden()

    def begin_edit(self, text: str) -> None:
        self._editing_row.show()
        self.edit.setPlainText(text)
        self.edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)
        self.edit.setFocus()

    def end_edit(self) -> None:
        if self.editing:
            self._editing_row.hide()
            self.edit.clear()

    def set_context(self, used: int, size: int, reserve: int) -> None:
        """The meter: tokens the chat takes, and what is left for the next message."""
        if size <= 0:
            self.context_meter.clear()
            return
        left = max(0, size - reserve - used)
        self.context_meter.setText(f"{used:,} / {size:,} tokens")
        self.context_meter.setToolTip(
            f"This chat takes {used:,} tokens of the {size:,}-token context; {left:,} are left "
            f"for your next message ({reserve:,} are kept for the answer). Older messages are "
            "left out when it fills up; a larger context is in Settings.")
        full = left < size // 10
        if self.context_meter.property("full") != full:  # a re-polish costs a relayout
            self.context_meter.setProperty("full", full)
            self.context_meter.style().polish(self.context_meter)

    def restore(self, text: str) -> None:
        """Put back text that could not be sent, so nothing the user typed is lost."""
        if not self.edit.toPlainText().strip():
            self.edit.setPlainText(text)
            self.edit.moveCursor(QtGui.QTextCursor.MoveOperation.End)


