"""Quick ask: a small floating composer (Ctrl+Shift+Space in Hearth, the tray menu, or
`hearth-gui --quick-ask` bound to a key in the desktop's keyboard settings). The question
starts a new chat in the main window, hidden or not; the answer streams here too, and
"Continue in Hearth" brings that chat forward to carry on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.gui.chat.messages import AssistantMessage
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

SHORTCUT = "Ctrl+Shift+Space"


class QuickAsk(QtWidgets.QWidget):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("Quick ask — Hearth")
        self.setObjectName("quickAsk")
        self.window_ = window
        self.conversation_id: int | None = None  # the chat this window's question started
        self.question = QtWidgets.QLineEdit()
        self.question.setPlaceholderText("Ask Hearth…  (Enter sends, Esc closes)")
        self.question.returnPressed.connect(self.send)
        self.answer = QtWidgets.QPlainTextEdit()
        self.answer.setReadOnly(True)
        self.answer.setMinimumHeight(160)
        self.answer.hide()
        self.note = QtWidgets.QLabel()
        self.note.setObjectName("facts")
        self.note.setWordWrap(True)
        self.note.hide()
        self.continue_button = QtWidgets.QPushButton("Continue in Hearth")
        self.continue_button.clicked.connect(self.continue_in_window)
        self.continue_button.hide()
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.question)
        layout.addWidget(self.note)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(560, 80)
        close = QtGui.QShortcut(QtGui.QKeySequence(Qt.Key.Key_Escape), self)
        close.activated.connect(self.hide)
        self._timer = QtCore.QTimer(self)  # mirrors the streaming answer, ≤ 10 times a second
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._mirror)
        window.controller.send_refused.connect(self._refused)
        window.controller.busy_changed.connect(lambda busy: busy or self._finished())

    def open(self) -> None:
        self.show()
        self.raise_()
        self.activateWindow()
        self.question.setFocus()
        self.question.selectAll()

    def send(self) -> None:
        text = self.question.text().strip()
        if not text:
            return
        w = self.window_
        self.note.hide()
        w.new_chat()  # reuses an empty chat; the window itself stays as it was (hidden, say)
        if not w.controller.send(text, w.composer.effort_name):
            return  # _refused says why
        self.conversation_id = w.controller.conversation_id
        self.question.clear()
        self.question.setPlaceholderText(f"Asked: {text[:80]}")
        self.answer.clear()
        self.answer.show()
        self.continue_button.show()
        self.resize(self.width(), 320)
        self._timer.start()

    def _streaming_widget(self) -> AssistantMessage | None:
        w = self.window_
        if self.conversation_id is None or w.controller.conversation_id != self.conversation_id:
            return None  # the main window moved to another chat: the answer is there
        shown = w.chat_view.messages()
        return shown[-1] if shown and isinstance(shown[-1], AssistantMessage) else None

    def _mirror(self) -> None:
        widget = self._streaming_widget()
        if widget is not None and widget.answer_text != self.answer.toPlainText():
            self.answer.setPlainText(widget.answer_text)
            self.answer.moveCursor(QtGui.QTextCursor.MoveOperation.End)

    def _finished(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self._mirror()

    def _refused(self, _text: str, why: str) -> None:
        if self.isVisible() and self.question.text().strip():
            self.note.setText(why)
            self.note.show()

    def continue_in_window(self) -> None:
        w = self.window_
        if self.conversation_id is not None and w.controller.conversation_id != self.conversation_id:
            w.controller.open_conversation(self.conversation_id)
        w.show_chat()
        w.showNormal() if w.isMinimized() else w.show()
        w.raise_()
        w.activateWindow()
        self.hide()


def show_for(window: MainWindow) -> QuickAsk:
    """The window's quick-ask panel (made on first use), shown and focused."""
    panel = getattr(window, "quick_ask", None)
    if panel is None:
        panel = window.quick_ask = QuickAsk(window)
    panel.open()
    return panel
