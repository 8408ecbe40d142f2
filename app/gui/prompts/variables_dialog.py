"""A small form for a prompt's {{variables}}: a line, several lines, or a choice each."""

from __future__ import annotations

from app.core import prompt_library
from app.gui.qt import QtWidgets
from storage.prompts import Prompt


class VariablesDialog(QtWidgets.QDialog):
    def __init__(self, prompt: Prompt, initial: dict | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(prompt.name)
        self.prompt = prompt
        self.fields: dict[str, QtWidgets.QWidget] = {}
        form = QtWidgets.QFormLayout()
        for variable in prompt_library.variables(prompt.body):
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
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.hide()
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)
        self.result_text: str | None = None

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
        missing = [n for n, v in self.values().items() if not v.strip()]
        if missing:
            self.error.setText(f"Fill in: {', '.join(missing)}.")
            self.error.show()
            return
        super().accept()
