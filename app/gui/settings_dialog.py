"""Settings (Ctrl/Cmd+,): defaults for new chats and models, GPU offload, reasoning display,
theme, and where the data lives."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace

from app.core import preferences
from app.core.preferences import Preferences
from app.gui.desktop_settings import DesktopSettings
from app.gui.qt import QtCore, QtGui, QtWidgets, Signal
from common.values import EFFORTS
from storage import DATA_DIR_ENV, Store, default_data_dir, move_data_dir

GPU_CHOICES = (("Automatic: as many layers as fit", None), ("All layers on the GPU", -1),
               ("CPU only", 0))


class SettingsDialog(QtWidgets.QDialog):
    applied = Signal(object)  # Preferences, after they are saved
    library_requested = Signal()  # "Library folders…": the window opens Settings → Library

    def __init__(self, store: Store, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.store = store
        current = preferences.load(store)

        self.theme = QtWidgets.QComboBox()
        self.theme.addItems(["Follow the system", "Light", "Dark"])
        self.theme.setCurrentIndex(preferences.THEMES.index(current.theme))
        self.effort = QtWidgets.QComboBox()
        self.effort.addItems([e.capitalize() for e in EFFORTS])
        self.effort.setCurrentIndex(EFFORTS.index(current.effort))
        self.n_ctx = QtWidgets.QSpinBox()
        self.n_ctx.setRange(512, 1_048_576)
        self.n_ctx.setSingleStep(4096)
        self.n_ctx.setSuffix(" tokens")
        self.n_ctx.setValue(current.n_ctx)
        self.n_ctx.setToolTip("More context holds longer chats and documents, and needs more "
                              "memory (the model manager shows the fit).")
        # Sampling: each model's own recommendation (its file's, its model card's, else
        # llama.cpp's) unless the person picks numbers for every model here.
        self.recommended = QtWidgets.QCheckBox("Each model's recommended sampling")
        self.recommended.setToolTip("What the model's file or its makers' model card recommend "
                                    "(SmolLM2: temperature 0.2, gpt-oss: 1.0…), else llama.cpp's "
                                    "defaults. The model manager shows each value's source.")
        self.recommended.setChecked(current.temperature is None and current.top_p is None)
        self.temperature = QtWidgets.QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7 if current.temperature is None else current.temperature)
        self.top_p = QtWidgets.QDoubleSpinBox()
        self.top_p.setRange(0.05, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.9 if current.top_p is None else current.top_p)
        self.recommended.toggled.connect(self._sync_sampling)
        self.gpu = QtWidgets.QComboBox()
        for label, _value in GPU_CHOICES:
            self.gpu.addItem(label)
        self.gpu.addItem("A fixed number of layers")
        self.gpu_layers = QtWidgets.QSpinBox()
        self.gpu_layers.setRange(1, 999)
        values = [v for _l, v in GPU_CHOICES]
        if current.gpu_layers in values:
            self.gpu.setCurrentIndex(values.index(current.gpu_layers))
        else:
            self.gpu.setCurrentIndex(len(GPU_CHOICES))
            self.gpu_layers.setValue(current.gpu_layers)
        self.gpu.currentIndexChanged.connect(self._sync_gpu)
        self.hide_reasoning = QtWidgets.QCheckBox("Hide the model's reasoning")
        self.hide_reasoning.setChecked(current.hide_reasoning)
        self.desktop = DesktopSettings(current)  # the tray and Open at login
        self.data_folder = QtWidgets.QLabel(str(default_data_dir()))
        self.data_folder.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        open_folder = QtWidgets.QPushButton("Show")
        open_folder.clicked.connect(lambda: QtGui.QDesktopServices.openUrl(
            QtCore.QUrl.fromLocalFile(str(default_data_dir()))))

        gpu_row = QtWidgets.QHBoxLayout()
        gpu_row.addWidget(self.gpu, 1)
        gpu_row.addWidget(self.gpu_layers)
        move_folder = QtWidgets.QPushButton("Move…")
        move_folder.setToolTip("Use another folder from the next start; your chats are copied there")
        move_folder.clicked.connect(self.move_data_folder)
        move_folder.setEnabled(not os.environ.get(DATA_DIR_ENV))  # the variable would win
        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.data_folder, 1)
        folder_row.addWidget(open_folder)
        folder_row.addWidget(move_folder)
        form = QtWidgets.QFormLayout()
        form.addRow("Theme", self.theme)
        form.addRow("Reasoning effort", self.effort)
        form.addRow("Context size", _with_hint(self.n_ctx, "next load"))
        form.addRow("Sampling", self.recommended)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("GPU offload", _with_hint(gpu_row, "next load"))
        form.addRow("", self.hide_reasoning)
        form.addRow("Desktop", self.desktop)
        form.addRow("Data folder", folder_row)
        library = QtWidgets.QPushButton("Library folders…")
        library.setToolTip("Folders of documents Hearth indexes for search and the model")
        library.clicked.connect(self.library_requested)
        form.addRow("Library", library)
        note = QtWidgets.QLabel("These are the defaults for models without settings of their "
                                "own (Models → Model manager). Effort and sampling apply to the "
                                "next answer; context size and GPU offload apply the next time "
                                "a model loads.")
        note.setObjectName("facts")
        note.setWordWrap(True)
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.hide()
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._sync_gpu()
        self._sync_sampling()
        self.setMinimumWidth(520)

    def _sync_sampling(self) -> None:
        for spin in (self.temperature, self.top_p):
            spin.setEnabled(not self.recommended.isChecked())

    def move_data_folder(self, folder: str | None = None) -> None:
        folder = folder or QtWidgets.QFileDialog.getExistingDirectory(
            self, "Move Hearth's data to", str(default_data_dir().parent))
        if not folder:
            return
        try:
            target = move_data_dir(self.store, folder)
        except (OSError, sqlite3.Error) as exc:
            self.error.setText(f"Could not use {folder}: {exc}")
            self.error.show()
            return
        self.data_folder.setText(str(target))
        self.error.setText("Your chats were copied there; Hearth uses that folder from the next "
                           "start. The old folder (and any models downloaded into it) stays.")
        self.error.show()

    def _sync_gpu(self) -> None:
        self.gpu_layers.setVisible(self.gpu.currentIndex() == len(GPU_CHOICES))

    def chosen(self) -> Preferences:
        index = self.gpu.currentIndex()
        gpu = GPU_CHOICES[index][1] if index < len(GPU_CHOICES) else self.gpu_layers.value()
        return replace(preferences.load(self.store),
                       theme=preferences.THEMES[self.theme.currentIndex()],
                       effort=EFFORTS[self.effort.currentIndex()], n_ctx=self.n_ctx.value(),
                       temperature=None if self.recommended.isChecked()
                       else round(self.temperature.value(), 2),
                       top_p=None if self.recommended.isChecked() else round(self.top_p.value(), 2),
                       gpu_layers=gpu,
                       hide_reasoning=self.hide_reasoning.isChecked(),
                       close_to_tray=self.desktop.close_to_tray.isChecked(),
                       global_quick_ask=self.desktop.global_quick_ask.isChecked())

    def accept(self) -> None:
        prefs = self.chosen()
        try:
            preferences.save(self.store, prefs)
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        if not self.desktop.apply():
            self.error.setText(self.desktop.error)
            self.error.show()
            return
        self.applied.emit(prefs)
        super().accept()


def _with_hint(field, hint: str) -> QtWidgets.QWidget:
    """A field with a small note beside it ("next load": it needs the model loaded again)."""
    row = QtWidgets.QWidget()
    layout = QtWidgets.QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    if isinstance(field, QtWidgets.QLayout):
        layout.addLayout(field, 1)
    else:
        layout.addWidget(field, 1)
    note = QtWidgets.QLabel(hint)
    note.setObjectName("samplingSource")
    note.setToolTip("Applies the next time a model loads")
    layout.addWidget(note)
    return row
