"""The prompt library: create, edit, duplicate, tag, favourite, search, delete; every save
keeps the earlier text as a version that can be restored; import and export."""

from __future__ import annotations

from pathlib import Path

from app.core import prompt_library
from app.gui.qt import Qt, QtWidgets, Signal
from common.values import EFFORTS
from storage import Store
from storage.prompts import KINDS, Prompt, PromptError

ID_ROLE = Qt.ItemDataRole.UserRole


class PromptLibraryWindow(QtWidgets.QDialog):
    library_changed = Signal()

    def __init__(self, store: Store, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Prompt library")
        self.resize(960, 620)
        self.store = store
        prompt_library.ensure_starters(store)

        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Search name, tags and text…")
        self.search.setClearButtonEnabled(True)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("promptList")
        new = QtWidgets.QPushButton("New")
        self.duplicate_button = QtWidgets.QPushButton("Duplicate")
        self.delete_button = QtWidgets.QPushButton("Delete…")
        import_button = QtWidgets.QPushButton("Import…")
        export_button = QtWidgets.QPushButton("Export…")
        left_buttons = QtWidgets.QGridLayout()
        for i, b in enumerate((new, self.duplicate_button, self.delete_button, import_button,
                               export_button)):
            left_buttons.addWidget(b, i // 3, i % 3)
        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.search)
        left.addWidget(self.list, 1)
        left.addLayout(left_buttons)

        self.name = QtWidgets.QLineEdit()
        self.kind = QtWidgets.QComboBox()
        self.kind.addItems(["Preset (instructions for a conversation)", "Quick prompt (text for the composer)"])
        self.tags = QtWidgets.QLineEdit()
        self.tags.setPlaceholderText("comma, separated")
        self.favourite = QtWidgets.QCheckBox("Favourite")
        self.body = QtWidgets.QPlainTextEdit()
        self.body.setPlaceholderText("The text. {{name}} asks for a line, {{name:long}} for several, "
                                     "{{tone:formal|casual}} for a choice; {{date}}, {{clipboard}} and "
                                     "{{selection}} fill themselves.")
        self.effort = QtWidgets.QComboBox()
        self.effort.addItems(["The model's default"] + [e.capitalize() for e in EFFORTS])
        self.temperature = QtWidgets.QDoubleSpinBox()
        self.temperature.setRange(-0.1, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setSpecialValueText("The model's default")
        self.n_ctx = QtWidgets.QSpinBox()
        self.n_ctx.setRange(0, 1_048_576)
        self.n_ctx.setSingleStep(4096)
        self.n_ctx.setSpecialValueText("The model's default")
        self.variables_note = QtWidgets.QLabel()
        self.variables_note.setObjectName("facts")
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.setWordWrap(True)
        self.save_button = QtWidgets.QPushButton("Save")
        self.save_button.setObjectName("primaryButton")
        self.versions = QtWidgets.QComboBox()
        self.restore_button = QtWidgets.QPushButton("Restore this version")
        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Kind", self.kind)
        form.addRow("Tags", self.tags)
        form.addRow("", self.favourite)
        form.addRow("Text", self.body)
        form.addRow("", self.variables_note)
        self.preset_box = QtWidgets.QGroupBox("Preset defaults")
        preset_form = QtWidgets.QFormLayout(self.preset_box)
        preset_form.addRow("Reasoning effort", self.effort)
        preset_form.addRow("Temperature", self.temperature)
        preset_form.addRow("Context size (wished)", self.n_ctx)
        versions = QtWidgets.QHBoxLayout()
        versions.addWidget(QtWidgets.QLabel("Earlier versions"))
        versions.addWidget(self.versions, 1)
        versions.addWidget(self.restore_button)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(form, 1)
        right.addWidget(self.preset_box)
        right.addLayout(versions)
        right.addWidget(self.error)
        right.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)
        body = QtWidgets.QHBoxLayout(self)
        body.addLayout(left, 2)
        body.addLayout(right, 3)

        self.search.textChanged.connect(lambda _t: self.refresh())
        self.list.currentItemChanged.connect(lambda *_: self._show_current())
        self.kind.currentIndexChanged.connect(lambda _i: self.preset_box.setVisible(self._kind() == "preset"))
        self.body.textChanged.connect(self._note_variables)
        new.clicked.connect(self.new_prompt)
        self.duplicate_button.clicked.connect(self.duplicate)
        self.delete_button.clicked.connect(self.delete)
        self.save_button.clicked.connect(self.save)
        self.restore_button.clicked.connect(self.restore_version)
        import_button.clicked.connect(self.import_library)
        export_button.clicked.connect(self.export_library)
        self._editing_id: int | None = None
        self.refresh()

    # -- list ------------------------------------------------------------------------------------

    def refresh(self, select: int | None = None) -> None:
        select = select if select is not None else self._editing_id
        text = self.search.text()
        prompts = self.store.prompts.search(text) if text.strip() else self.store.prompts.list()
        self.list.blockSignals(True)
        self.list.clear()
        for p in prompts:
            item = QtWidgets.QListWidgetItem(f"{'★ ' if p.favourite else ''}{p.name}")
            item.setData(ID_ROLE, p.id)
            item.setToolTip(f"{p.kind} · {', '.join(p.tags)}")
            self.list.addItem(item)
            if p.id == select:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        if self.list.currentItem() is None and self.list.count() and self._editing_id is not None:
            self.list.setCurrentRow(0)
        self._show_current()

    def current(self) -> Prompt | None:
        item = self.list.currentItem()
        return self.store.prompts.get(item.data(ID_ROLE)) if item is not None else None

    def _kind(self) -> str:
        return KINDS[0] if self.kind.currentIndex() == 0 else KINDS[1]

    def _show_current(self) -> None:
        p = self.current()
        self.error.clear()
        self._editing_id = p.id if p else None
        self.duplicate_button.setEnabled(p is not None)
        self.delete_button.setEnabled(p is not None)
        if p is None:
            return
        self.name.setText(p.name)
        self.kind.setCurrentIndex(KINDS.index(p.kind))
        self.tags.setText(", ".join(p.tags))
        self.favourite.setChecked(p.favourite)
        self.body.setPlainText(p.body)
        self.effort.setCurrentIndex(EFFORTS.index(p.effort) + 1 if p.effort else 0)
        self.temperature.setValue(p.temperature if p.temperature is not None else -0.1)
        self.n_ctx.setValue(p.n_ctx or 0)
        self.preset_box.setVisible(p.kind == "preset")
        self.versions.clear()
        for v in self.store.prompts.versions(p.id):
            self.versions.addItem(f"{v.created_at[:16].replace('T', ' ')} — {v.fields['body'][:50]}", v.id)
        self.restore_button.setEnabled(self.versions.count() > 0)

    def _note_variables(self) -> None:
        names = [v.name for v in prompt_library.variables(self.body.toPlainText())]
        self.variables_note.setText("Asks for: " + ", ".join(names) if names else "")

    # -- actions ---------------------------------------------------------------------------------

    def _fields(self) -> dict:
        return {"name": self.name.text(), "kind": self._kind(), "body": self.body.toPlainText(),
                "tags": self.tags.text(), "favourite": self.favourite.isChecked(),
                "effort": EFFORTS[self.effort.currentIndex() - 1] if self.effort.currentIndex() else None,
                "temperature": None if self.temperature.value() < 0 else round(self.temperature.value(), 2),
                "n_ctx": self.n_ctx.value() or None}

    def save(self) -> bool:
        try:
            if self._editing_id is None:
                saved = self.store.prompts.create(**self._fields())
            else:
                saved = self.store.prompts.update(self._editing_id, **self._fields())
        except PromptError as exc:
            self.error.setText(str(exc))
            return False
        self._editing_id = saved.id
        self.refresh(saved.id)
        self.library_changed.emit()
        return True

    def new_prompt(self) -> None:
        self.list.clearSelection()
        self.list.setCurrentItem(None)
        self._editing_id = None
        for field in (self.name, self.tags):
            field.clear()
        self.body.clear()
        self.kind.setCurrentIndex(1)
        self.favourite.setChecked(False)
        self.effort.setCurrentIndex(0)
        self.temperature.setValue(-0.1)
        self.n_ctx.setValue(0)
        self.versions.clear()
        self.name.setFocus()

    def duplicate(self) -> None:
        p = self.current()
        if p is not None:
            copy = self.store.prompts.duplicate(p.id)
            self.refresh(copy.id)
            self.library_changed.emit()

    def delete(self) -> None:
        p = self.current()
        if p is None:
            return
        answer = QtWidgets.QMessageBox.question(self, "Delete prompt", f"Delete “{p.name}” and its "
                                                "earlier versions?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            self.store.prompts.delete(p.id)
            self._editing_id = None
            self.refresh()
            self.library_changed.emit()

    def restore_version(self) -> None:
        version_id = self.versions.currentData()
        if version_id is not None:
            restored = self.store.prompts.restore(version_id)
            self.refresh(restored.id)
            self.library_changed.emit()

    def import_library(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Import prompts", str(Path.home()), "Prompt library (*.json);;All files (*)")
        if not path:
            return
        try:
            added, updated = prompt_library.import_library(self.store, Path(path))
        except prompt_library.PromptImportError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText(f"Imported: {added} added, {updated} updated.")
        self.refresh()
        self.library_changed.emit()

    def export_library(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export prompts", str(Path.home() / "hearth-prompts.json"), "Prompt library (*.json)")
        if path:
            count = prompt_library.export_library(self.store, Path(path), "json")
            self.error.setText(f"{count} prompts exported to {path}.")
