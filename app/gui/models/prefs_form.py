"""The model manager's "Defaults for this model" form: context size, effort and sampling, each
sampling value shown with where it comes from (yours, the model's file, its card, llama.cpp);
changing one makes it yours. A mixin of ModelManager (manager.py), which owns the selection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.core import model_library, sampling_defaults
from app.gui.models.welcome import VERDICT_TEXT
from app.gui.qt import QtWidgets
from common.values import EFFORTS


class PrefsForm:
    def _build_prefs_form(self) -> None:
        self.ctx = QtWidgets.QSpinBox()
        self.ctx.setRange(512, 131072)
        self.ctx.setSingleStep(1024)
        self.ctx.setSuffix(" tokens")
        self.effort = QtWidgets.QComboBox()
        self.effort.addItems([e.capitalize() for e in EFFORTS])
        # Sampling: each value shown with where it comes from; changing one makes it yours.
        self.temperature = _spin(0.0, 2.0, 0.05)
        self.top_p = _spin(0.01, 1.0, 0.05)
        self.top_k = QtWidgets.QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setSpecialValueText("off")
        self.min_p = _spin(0.0, 1.0, 0.01)
        self.min_p.setSpecialValueText("off")
        self.sampling = {"temperature": self.temperature, "top_p": self.top_p,
                         "top_k": self.top_k, "min_p": self.min_p}
        for spin in self.sampling.values():
            spin.setFixedWidth(90)
        self.sources = {name: QtWidgets.QLabel() for name in self.sampling}
        form = QtWidgets.QFormLayout()
        form.addRow("Context size", self.ctx)
        form.addRow("Reasoning effort", self.effort)
        for name, label in (("temperature", "Temperature"), ("top_p", "Top-p"),
                            ("top_k", "Top-k"), ("min_p", "Min-p")):
            self.sources[name].setObjectName("samplingSource")
            row = QtWidgets.QHBoxLayout()
            row.addWidget(self.sampling[name])
            row.addWidget(self.sources[name], 1)
            form.addRow(label, row)
            self.sampling[name].valueChanged.connect(lambda _v, n=name: self._save_prefs(n))
        self.form = form
        self.recommended_button = QtWidgets.QPushButton("Use the model's recommendation")
        self.recommended_button.setToolTip("Forget the sampling values set here: the model's "
                                           "file, its model card or llama.cpp decide again.")
        self.recommended_button.clicked.connect(self.use_recommended)
        self.applies = QtWidgets.QLabel("Effort and sampling apply to the next answer. The "
                                        "context size applies when the model next loads.")
        self.applies.setObjectName("facts")
        self.applies.setWordWrap(True)
        self.reload_button = QtWidgets.QPushButton("Reload with the new context size")
        self.reload_button.clicked.connect(lambda: self.load_selected())
        self.reload_button.hide()
        form.addRow("", self.recommended_button)
        form.addRow(self.applies)
        form.addRow("", self.reload_button)
        self.prefs_box = QtWidgets.QGroupBox("Defaults for this model")
        self.prefs_box.setLayout(form)
        self.ctx.valueChanged.connect(lambda _v: self._save_prefs())
        self.effort.currentIndexChanged.connect(lambda _i: self._save_prefs())

    def _show_prefs(self, entry: model_library.ModelEntry, is_loaded: bool = False) -> None:
        """The model's settings, each sampling value with where it comes from."""
        m, prefs = entry.model, entry.prefs
        traits = (sampling_defaults.ModelTraits.from_metadata(m.info.metadata, Path(m.path).name)
                  if m.info is not None else None)  # from the header the scan read: no I/O
        resolved = prefs.resolved(traits)
        widgets = (self.ctx, self.effort, *self.sampling.values())
        for widget in widgets:
            widget.blockSignals(True)
        self.ctx.setMaximum(m.context_length or 1_048_576)
        self.ctx.setValue(min(prefs.n_ctx, self.ctx.maximum()))
        self.effort.setCurrentIndex(EFFORTS.index(prefs.effort) if prefs.effort in EFFORTS else 1)
        for name, widget in self.sampling.items():
            widget.setValue(resolved.values[name])
            source = resolved.sources[name]
            self.sources[name].setText(f"{source} ({resolved.family})"
                                       if source == sampling_defaults.CARD and resolved.family
                                       else source)
        for widget in widgets:
            widget.blockSignals(False)
        takes_effort = traits is None or traits.reasoning == sampling_defaults.EFFORT
        self.form.setRowVisible(self.effort, takes_effort)
        self.recommended_button.setEnabled(any(v is not None for v in prefs.chosen_sampling.values()))
        loaded = self.session.model
        wanted = min(prefs.n_ctx, m.context_length) if m.context_length else prefs.n_ctx
        self.reload_button.setVisible(is_loaded and loaded is not None and loaded.n_ctx != wanted)

    def use_recommended(self) -> None:
        """Forget this model's own sampling values."""
        entry = self.selected()
        if entry is None:
            return
        own = model_library.own_prefs(self.store, entry.model.path)
        model_library.set_prefs(self.store, entry.model.path,
                                replace(own, **{name: None for name in self.sampling}))
        entry.prefs = model_library.prefs(self.store, entry.model.path)
        self._show_selected()

    def _save_prefs(self, changed: str | None = None) -> None:
        """Save what the person just set: the context, the effort, or one sampling value
        (which becomes theirs; the others keep coming from where they came from)."""
        entry = self.selected()
        if entry is None:
            return
        own = model_library.own_prefs(self.store, entry.model.path)
        values = {"n_ctx": self.ctx.value(), "effort": EFFORTS[self.effort.currentIndex()]}
        if changed is not None:
            value = self.sampling[changed].value()
            values[changed] = value if changed == "top_k" else round(value, 2)
        model_library.set_prefs(self.store, entry.model.path, replace(own, **values))
        entry.prefs = prefs = model_library.prefs(self.store, entry.model.path)
        loaded = self.session.model
        self._show_prefs(entry, loaded is not None and Path(loaded.path) == Path(entry.model.path))
        if entry.model.info is not None and self.machine is not None:
            # The fit at the new context size, at once: header shapes are already in memory.
            entry.fit = model_library.fit_of(entry.model, prefs.n_ctx, self.machine)
            item = self.tree.currentItem()
            item.setText(5, VERDICT_TEXT[entry.fit.verdict] if entry.fit else "?")
            self.fit_text.setText(entry.fit.reason if entry.fit else "")


def _spin(low: float, high: float, step: float) -> QtWidgets.QDoubleSpinBox:
    spin = QtWidgets.QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(2)
    return spin
