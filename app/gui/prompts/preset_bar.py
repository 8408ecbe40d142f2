"""The preset in use, shown at the top of a conversation and changeable there."""

from __future__ import annotations

from app.gui.qt import QtWidgets, Signal
from storage.prompts import Prompt


class PresetBar(QtWidgets.QFrame):
    preset_chosen = Signal(object)  # preset id, or None for no preset

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("presetBar")
        self.combo = QtWidgets.QComboBox()
        self.combo.setObjectName("presetCombo")
        self.combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.combo.setToolTip("Instructions for the whole conversation (a saved preset)")
        label = QtWidgets.QLabel("Preset")
        label.setObjectName("facts")
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(24, 6, 24, 0)
        layout.addWidget(label)
        layout.addWidget(self.combo)
        layout.addStretch(1)
        self._filling = False
        self.combo.currentIndexChanged.connect(self._on_changed)

    def set_presets(self, presets: list[Prompt], current: int | None) -> None:
        self._filling = True
        self.combo.clear()
        self.combo.addItem("None", None)
        for p in presets:
            self.combo.addItem(p.name, p.id)
        index = self.combo.findData(current) if current is not None else 0
        self.combo.setCurrentIndex(max(0, index))
        self._filling = False

    @property
    def current(self) -> int | None:
        return self.combo.currentData()

    def _on_changed(self, _index: int) -> None:
        if not self._filling:
            self.preset_chosen.emit(self.combo.currentData())
