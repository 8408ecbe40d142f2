"""A small form for a prompt's {{variables}}: a line, several lines, or a choice each.

The fields scroll, so OK and Cancel stay on screen however many there are. A prompt saved
before the limit (storage/prompts.py MAX_VARIABLES) may ask for thousands: the form shows the
first MAX_VARIABLES and says so, and cannot be sent (the prompt needs every value)."""

from __future__ import annotations

from app.core import prompt_library
from app.gui.qt import QtWidgets
from storage.prompts import MAX_VARIABLES, Prompt


class VariablesDialog(QtWidgets.QDialog):
    def __init__(self, prompt: Prompt, initial: dict | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(prompt.name)
        self.prompt = prompt
        self.fields: dict[str, QtWidgets.QWidget] = {}
        wanted = prompt_library.variables(prompt.body)
        form = QtWidgets.QFormLayout()
        for variable in wanted[:MAX_VARIABLES]:
            if variable.kind == "choice":
                field = QtWidgets.QComboBox()
                field.addItems(list(variable.choices))
                if initial and initial.get(variable.name) in variable.choices:
                    field.setCurrentText(initial[variable.name])
            elif variable.kind == "long":
                field = QtWidgets.QPlainTextEdit()
                field.setMinimumHeight(120)
                field.setPlainText((initial or {}).get(variable.name, ""))
            else:
                field = QtWidgets.QLineEdit((initial or {}).get(variable.name, ""))
            self.fields[variable.name] = field
            form.addRow(variable.name.replace("_", " ").capitalize(), field)
        page = QtWidgets.QWidget()
        page.setLayout(form)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(page)
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        if len(wanted) > MAX_VARIABLES:
            self.error.setText(f"“{prompt.name}” has {len(wanted):,} variables; this form shows "
                               f"the first {MAX_VARIABLES}. Edit the prompt to have at most "
                               f"{MAX_VARIABLES} to use it.")
            self.error.show()
            self.ok.setEnabled(False)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
        self.result_text: str | None = None
        # Tall enough for every field, up to most of the screen; beyond that they scroll.
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        chrome = self.sizeHint() - scroll.sizeHint()
        self.resize(max(self.minimumWidth(), page.sizeHint().width() + chrome.width()),
                    min(page.sizeHint().height() + chrome.height(), screen.height() * 3 // 4))

    def values(self) -> dict[str, str]:
        out = {}
        for name, field in self.fields.items():
            if isinstance(field, QtWidgets.QComboBox):
                out[name] = field.currentText()
            elif isinstance(field, QtWidgets.QPlainTextEdit):
                out[name] = field.toPlainText()
            else:
                out[name] = field.text()
        return out

    def accept(self) -> None:
        if not self.ok.isEnabled():
            return  # too many variables to fill in: the note says so
        missing = [n for n, v in self.values().items() if not v.strip()]
        if missing:
            self.error.setText(f"Fill in: {', '.join(missing)}.")
            self.error.show()
            return
        super().accept()
