"""First run: no model yet. Offer gpt-oss-20b (download or already on disk), the bundled
starter to chat with at once, and every GGUF already on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.core import model_library
from app.gui.background import BackgroundOp
from app.gui.models.download_panel import DownloadPanel
from app.gui.models.downloads import DownloadManager
from app.gui.qt import Qt, QtWidgets, Signal
from common.units import format_bytes
from inference.models.catalog import RECOMMENDED
from inference.models.fit import Verdict
from storage import Store

VERDICT_TEXT = {Verdict.FITS: "fits", Verdict.TIGHT: "tight", Verdict.WONT_FIT: "won't fit"}


def fit_chip(fit) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(VERDICT_TEXT[fit.verdict] if fit else "unknown")
    label.setObjectName("fitChip")
    label.setProperty("verdict", fit.verdict.name.lower() if fit else "unknown")
    if fit:
        label.setToolTip(fit.reason)
    return label


def _card(title: str, object_name: str = "card") -> tuple[QtWidgets.QFrame, QtWidgets.QVBoxLayout]:
    frame = QtWidgets.QFrame()
    frame.setObjectName(object_name)
    layout = QtWidgets.QVBoxLayout(frame)
    layout.setContentsMargins(20, 16, 20, 16)
    layout.setSpacing(8)
    heading = QtWidgets.QLabel(title)
    heading.setObjectName("cardTitle")
    layout.addWidget(heading)
    return frame, layout


def free_disk_space(folder: Path) -> int:
    """Free bytes on the disk that holds `folder` (or its nearest existing parent)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


class WelcomePage(QtWidgets.QScrollArea):
    model_chosen = Signal(str)  # path: becomes the default and loads
    open_file_requested = Signal()
    add_folder_requested = Signal()

    def __init__(self, store: Store, downloads: DownloadManager, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setWidgetResizable(True)
        self.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.store, self.downloads = store, downloads
        self.entries: list[model_library.ModelEntry] = []
        self._scan = 0  # only the latest scan's result is shown

        page = QtWidgets.QWidget()
        page.setObjectName("welcomePage")
        outer = QtWidgets.QHBoxLayout(page)
        column = QtWidgets.QVBoxLayout()
        column.setSpacing(14)
        outer.addStretch(1)
        outer.addLayout(column, 6)
        outer.addStretch(1)
        self.setWidget(page)

        title = QtWidgets.QLabel("Welcome to Hearth")
        title.setObjectName("welcomeTitle")
        subtitle = QtWidgets.QLabel("A reasoning model that runs entirely on this computer. "
                                    "Choose a model to start; nothing you type leaves the machine.")
        subtitle.setObjectName("welcomeSubtitle")
        subtitle.setWordWrap(True)
        column.addSpacing(24)
        column.addWidget(title)
        column.addWidget(subtitle)

        # The recommended model: download it, or use the copy already on disk.
        card, layout = _card(f"Recommended: {RECOMMENDED.title}", "recommendedCard")
        blurb = QtWidgets.QLabel(RECOMMENDED.blurb)
        blurb.setWordWrap(True)
        self.recommended_facts = QtWidgets.QLabel()
        self.recommended_facts.setObjectName("facts")
        self.recommended_facts.setWordWrap(True)
        self.recommended_chip = fit_chip(None)
        self.recommended_chip.hide()
        facts_row = QtWidgets.QHBoxLayout()
        facts_row.addWidget(self.recommended_facts, 1)
        facts_row.addWidget(self.recommended_chip, 0, Qt.AlignmentFlag.AlignTop)
        self.download_panel = DownloadPanel(downloads, RECOMMENDED)  # the window handles finished
        self.use_recommended = QtWidgets.QPushButton()
        self.use_recommended.setObjectName("primaryButton")
        self.use_recommended.hide()
        self.use_recommended.clicked.connect(self._use_recommended)
        layout.addWidget(blurb)
        layout.addLayout(facts_row)
        layout.addWidget(self.download_panel)
        layout.addWidget(self.use_recommended, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(card)

        # The starter: chat now, offline, while the big one downloads.
        self.starter = model_library.starter()
        card, layout = _card("Try now: SmolLM2 135M")
        text = QtWidgets.QLabel("Tiny and far weaker than gpt-oss, but it is already here: chat "
                                "the moment you click, offline, while gpt-oss-20b downloads.")
        text.setWordWrap(True)
        self.starter_button = QtWidgets.QPushButton("Chat with SmolLM2 now")
        self.starter_button.clicked.connect(
            lambda: self.starter and self.model_chosen.emit(str(self.starter.path)))
        layout.addWidget(text)
        layout.addWidget(self.starter_button, 0, Qt.AlignmentFlag.AlignLeft)
        card.setVisible(self.starter is not None and self.starter.error is None)
        column.addWidget(card)

        # Everything else already on disk.
        card, layout = _card("Models already on this machine")
        self.found_hint = QtWidgets.QLabel("Looking in the Hugging Face cache, LM Studio and "
                                           "Ollama…")
        self.found_hint.setObjectName("facts")
        self.found_hint.setWordWrap(True)
        self.found_list = QtWidgets.QVBoxLayout()
        self.found_list.setSpacing(4)
        buttons = QtWidgets.QHBoxLayout()
        add = QtWidgets.QPushButton("Add a folder…")
        add.clicked.connect(self.add_folder_requested)
        open_file = QtWidgets.QPushButton("Open a GGUF file…")
        open_file.clicked.connect(self.open_file_requested)
        buttons.addWidget(add)
        buttons.addWidget(open_file)
        buttons.addStretch(1)
        layout.addWidget(self.found_hint)
        layout.addLayout(self.found_list)
        layout.addLayout(buttons)
        column.addWidget(card)
        column.addStretch(1)

        self._show_recommended_facts(None)

    # -- scanning (off the GUI thread) ----------------------------------------------------------

    def refresh(self) -> None:
        settings = model_library.LibrarySettings.read(self.store)
        self._scan += 1
        scan = self._scan
        (BackgroundOp(self, lambda: (model_library.scan(settings, include_starter=False),
                                     model_library.catalog_fit()))
         .success(lambda result: scan == self._scan and self._on_scanned(*result))
         .failure(lambda exc: self.found_hint.setText(f"Could not look for models: {exc}"))
         .run_in_background())

    def _on_scanned(self, entries, recommended_fit) -> None:
        self.entries = entries
        while self.found_list.count():
            item = self.found_list.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for entry in entries:
            self.found_list.addWidget(self._row(entry))
        self.found_hint.setText(
            "None found in the Hugging Face cache, LM Studio or Ollama. Add a folder that holds "
            ".gguf files, or open one." if not entries else
            f"{len(entries)} found in the Hugging Face cache, LM Studio, Ollama and your folders. "
            "Hearth uses them where they are: nothing is copied.")
        self._show_recommended_facts(recommended_fit)

    def _row(self, entry: model_library.ModelEntry) -> QtWidgets.QWidget:
        m = entry.model
        row = QtWidgets.QFrame()
        row.setObjectName("modelRow")
        layout = QtWidgets.QHBoxLayout(row)
        layout.setContentsMargins(8, 4, 8, 4)
        name = QtWidgets.QLabel(m.display_name)
        name.setObjectName("modelName")
        name.setToolTip(str(m.path))
        facts = " · ".join(x for x in (model_library.SOURCE_LABELS.get(m.source, m.source),
                                        m.quantization, format_bytes(m.size)) if x)
        detail = QtWidgets.QLabel(m.error if m.error else facts)
        detail.setObjectName("modelError" if m.error else "facts")
        detail.setWordWrap(True)
        text = QtWidgets.QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(name)
        text.addWidget(detail)
        layout.addLayout(text, 1)
        if not m.error:
            layout.addWidget(fit_chip(entry.fit), 0, Qt.AlignmentFlag.AlignVCenter)
            use = QtWidgets.QPushButton("Use")
            use.clicked.connect(lambda: self.model_chosen.emit(str(m.path)))
            layout.addWidget(use)
        return row

    def _show_recommended_facts(self, fit) -> None:
        found = model_library.find_catalog_model(self.entries)
        free = free_disk_space(model_library.models_dir())
        partial = self.downloads.partial_bytes(RECOMMENDED.repo_id, RECOMMENDED.filename)
        facts = [f"{format_bytes(RECOMMENDED.size)} download",
                 f"{format_bytes(free)} free on this disk"]
        if free + partial < RECOMMENDED.size:
            facts[1] = f"only {format_bytes(free)} free on this disk: free some space first"
        if fit is not None:
            facts.append(f"needs about {format_bytes(fit.total)} of memory at 16k context")
            self.recommended_chip.setText(VERDICT_TEXT[fit.verdict])
            self.recommended_chip.setProperty("verdict", fit.verdict.name.lower())
            self.recommended_chip.setToolTip(fit.reason)
            self.recommended_chip.style().polish(self.recommended_chip)
            self.recommended_chip.show()
        if found is not None:
            self.recommended_facts.setText(f"Already on this machine ({found.model.source}): "
                                           f"{found.model.path}")
            self.download_panel.hide()
            self.use_recommended.setText(f"Use {RECOMMENDED.title}")
            self.use_recommended.show()
        else:
            self.recommended_facts.setText(" · ".join(facts))
            if fit is not None:
                self.recommended_facts.setToolTip(fit.reason)

    def _use_recommended(self) -> None:
        found = model_library.find_catalog_model(self.entries)
        if found is not None:
            self.model_chosen.emit(str(found.model.path))
