"""The model manager: every model found (and one opened from anywhere), its fit and per-model
defaults with where each comes from; load (which makes it the default), unload, set default,
reveal, delete (only what Hearth downloaded), and the recommended download."""

from __future__ import annotations

from pathlib import Path

from app.core import model_library
from app.gui import theme
from app.gui.background import BackgroundOp
from app.gui.models import remote_rows
from app.gui.models.download_panel import DownloadPanel
from app.gui.models.downloads import DownloadManager
from app.gui.models.prefs_form import PrefsForm
from app.gui.models.welcome import VERDICT_TEXT
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets, Signal
from app.gui.session import ModelSession
from common.units import format_bytes
from inference.models.catalog import RECOMMENDED
from storage import Store

COLUMNS = ("Model", "Source", "Quantization", "Size", "Context", "Fit")


class ModelManager(PrefsForm, QtWidgets.QDialog):
    add_folder_requested = Signal()

    def __init__(self, store: Store, session: ModelSession, downloads: DownloadManager,
                 parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 560)
        self.store, self.session, self.downloads = store, session, downloads
        self.entries: list[model_library.ModelEntry] = []
        self.machine = None  # probed with each scan, off the GUI thread (NVML can be slow)
        self._scan = 0  # only the latest scan's result is shown

        self.tree = QtWidgets.QTreeWidget()
        self.tree.setObjectName("modelTable")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.tree.currentItemChanged.connect(lambda *_: self._on_selection())
        self.tree.itemDoubleClicked.connect(lambda *_: self.load_selected())

        self.status = QtWidgets.QLabel("Looking for models…")
        self.status.setObjectName("facts")
        self.download_panel = DownloadPanel(downloads, RECOMMENDED)
        self.download_panel.finished.connect(lambda _path: self.refresh())
        download_box = QtWidgets.QGroupBox(f"Download {RECOMMENDED.title} (recommended)")
        QtWidgets.QVBoxLayout(download_box).addWidget(self.download_panel)
        self.download_box = download_box

        # Details of the selected model.
        self.title = QtWidgets.QLabel()
        self.title.setObjectName("cardTitle")
        self.title.setWordWrap(True)
        self.facts = QtWidgets.QLabel()
        self.facts.setObjectName("facts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fit_text = QtWidgets.QLabel()
        self.fit_text.setWordWrap(True)
        self._build_prefs_form()

        self.load_button = QtWidgets.QPushButton("Load")
        self.load_button.setObjectName("primaryButton")
        self.unload_button = QtWidgets.QPushButton("Unload")
        self.default_button = QtWidgets.QPushButton("Set as default")
        self.reveal_button = QtWidgets.QPushButton("Show in folder")
        self.delete_button = QtWidgets.QPushButton("Delete…")
        self.load_button.clicked.connect(self.load_selected)
        self.unload_button.clicked.connect(session.unload)
        self.default_button.clicked.connect(self.set_selected_default)
        self.reveal_button.clicked.connect(self.reveal_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.load_state = QtWidgets.QLabel()
        self.load_state.setObjectName("facts")
        self.load_bar = QtWidgets.QProgressBar()
        self.load_bar.setRange(0, 100)
        self.load_bar.setFixedHeight(8)
        self.load_bar.setTextVisible(False)
        self.load_bar.hide()

        actions = QtWidgets.QGridLayout()
        for i, button in enumerate((self.load_button, self.unload_button, self.default_button,
                                    self.reveal_button, self.delete_button)):
            actions.addWidget(button, i // 2, i % 2)
        details = QtWidgets.QVBoxLayout()
        details.addWidget(self.title)
        details.addWidget(self.facts)
        details.addWidget(self.fit_text)
        details.addWidget(self.prefs_box)
        details.addLayout(actions)
        details.addWidget(self.load_bar)
        details.addWidget(self.load_state)
        details.addStretch(1)
        details_widget = QtWidgets.QWidget()
        details_widget.setLayout(details)
        details_widget.setMinimumWidth(320)

        add_folder = QtWidgets.QPushButton("Add a folder…")
        add_folder.clicked.connect(self.add_folder_requested)
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(add_folder)
        top.addWidget(refresh)
        left = QtWidgets.QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self.tree, 1)
        left.addWidget(download_box)
        body = QtWidgets.QHBoxLayout(self)
        body.addLayout(left, 3)
        body.addWidget(details_widget, 2)

        session.changed.connect(self._on_model_changed)
        session.loading.connect(self._on_loading)
        session.progress.connect(self._on_progress)
        session.failed.connect(lambda _p, why: self._on_load_failed(why))
        session.refused.connect(lambda _p, why: self._on_load_failed(why))
        self._show_selected()

    # -- data ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        settings = model_library.LibrarySettings.read(self.store)
        self.status.setText("Looking for models…")
        session = self.session
        opened = tuple(p for p in (session.model.path if session.model else None,
                                   session.loading_path) if p)

        def work():
            machine = model_library.probe()
            return model_library.scan(settings, machine, extra=opened), machine

        self._scan += 1
        scan = self._scan
        (BackgroundOp(self, work)
         .success(lambda result: scan == self._scan and self._fill(*result))
         .failure(lambda exc: self.status.setText(f"Could not look for models: {exc}"))
         .run_in_background())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._scan += 1  # a scan still running finds nobody to show its rows to
        super().closeEvent(event)

    def _fill(self, entries: list[model_library.ModelEntry], machine=None) -> None:
        selected, selected_ref = self.selected(), remote_rows.selected_ref(self.tree)
        self.entries = entries
        self.machine = machine or self.machine
        self.tree.blockSignals(True)  # refilling is not the person choosing another model
        self.tree.clear()
        loaded = self.session.model.path if self.session.model else None
        for entry in entries:
            m, fit = entry.model, entry.fit
            verdict = "broken" if m.error else (VERDICT_TEXT[fit.verdict] if fit else "?")
            is_loaded = loaded is not None and Path(loaded) == Path(m.path)
            item = QtWidgets.QTreeWidgetItem([
                ("★ " if entry.is_default else "") + m.display_name + ("  · loaded" if is_loaded else ""),
                model_library.SOURCE_LABELS.get(m.source, m.source), m.quantization or "?",
                format_bytes(m.size), f"{m.context_length:,}" if m.context_length else "?", verdict])
            item.setData(0, Qt.ItemDataRole.UserRole, str(m.path))
            item.setToolTip(0, "\n".join([str(m.path)] + (["The default model: it loads at "
                                                            "the next start"] if entry.is_default else [])
                                          + (["Loaded now"] if is_loaded else [])))
            if is_loaded:
                font = item.font(0)
                font.setBold(True)
                item.setFont(0, font)
            item.setToolTip(5, m.error or (fit.reason if fit else ""))
            if m.error:
                for column in range(len(COLUMNS)):
                    item.setForeground(column, QtGui.QBrush(QtGui.QColor(theme.colour("error"))))
            self.tree.addTopLevelItem(item)
            if selected is not None and Path(selected.path) == Path(m.path):
                self.tree.setCurrentItem(item)
        remote = remote_rows.add_rows(self.tree, self.store, loaded, select=selected_ref)
        for column in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        if self.tree.currentItem() is None and self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self.tree.blockSignals(False)
        have_recommended = model_library.find_catalog_model(entries) is not None
        self.download_box.setVisible(not have_recommended)
        self.status.setText(f"{len(entries)} model{'s' if len(entries) != 1 else ''} on this machine"
                            + (f", {remote} remote" if remote else ""))
        self._show_selected()

    def selected(self) -> model_library.ModelEntry | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        path = item.data(0, Qt.ItemDataRole.UserRole)
        return next((e for e in self.entries if str(e.model.path) == path), None)

    # -- details ---------------------------------------------------------------------------------

    def _on_selection(self) -> None:
        if self.session.loading_path is None:  # a line about another model is stale now
            self.load_state.setText("")
        self._show_selected()

    def _show_selected(self) -> None:
        ref = remote_rows.selected_ref(self.tree)
        if ref is not None:
            remote_rows.describe(self, ref)
            return
        entry = self.selected()
        has = entry is not None
        for widget in (self.prefs_box, self.load_button, self.default_button, self.reveal_button,
                       self.delete_button):
            widget.setEnabled(has and (entry.usable or widget in (self.reveal_button, self.delete_button)))
        loaded = self.session.model
        self.unload_button.setEnabled(loaded is not None)
        if not has:
            self.title.setText("No model selected")
            self.facts.setText("")
            self.fit_text.setText("")
            return
        m, fit = entry.model, entry.fit
        is_loaded = loaded is not None and Path(loaded.path) == Path(m.path)
        loading = self.session.loading_path is not None and \
            Path(self.session.loading_path) == Path(m.path)
        self.title.setText(m.display_name + ("  (loaded)" if is_loaded else "")
                           + ("  (default)" if entry.is_default else ""))
        self.load_button.setEnabled(entry.usable and not is_loaded and not loading)
        self.load_button.setToolTip("Loaded now" if is_loaded else
                                    "Load it now; it also becomes the model loaded at the next start")
        facts = [str(m.path)]
        if m.repo:
            facts.append(f"From {m.repo}")
        if m.info is not None:
            params = f"{m.parameter_count / 1e9:.1f} B parameters" if m.parameter_count >= 1e9 \
                else f"{m.parameter_count / 1e6:.0f} M parameters"
            facts.append(f"{m.architecture} · {params} · {m.quantization} · "
                         f"{m.context_length:,}-token context · "
                         f"{'chat template included' if m.has_chat_template else 'no chat template (ChatML used)'}")
        self.facts.setText("\n".join(facts))
        self.fit_text.setText(m.error or (fit.reason if fit else "Memory need unknown for this file."))
        self.fit_text.setObjectName("modelError" if m.error else "")
        self.default_button.setText("Default model" if entry.is_default else "Set as default")
        self.default_button.setEnabled(entry.usable and not entry.is_default)
        self.delete_button.setEnabled(m.downloaded_by_hearth)
        self.delete_button.setToolTip("" if m.downloaded_by_hearth else
                                      "Only models Hearth downloaded can be deleted here.")
        self._show_prefs(entry, is_loaded)

    # -- actions ---------------------------------------------------------------------------------

    def load_selected(self, allow_swap: bool = False) -> None:
        """Load it now; like Open model… and the welcome's buttons, it becomes the default,
        the model loaded at the next start."""
        ref = remote_rows.selected_ref(self.tree)
        if ref is not None:
            model_library.set_default(self.store, ref)
            self.session.load(ref)
            return
        entry = self.selected()
        if entry is not None and entry.usable:
            model_library.set_default(self.store, entry.model.path)
            for other in self.entries:
                other.is_default = other is entry
            self.session.load(str(entry.model.path), allow_swap=allow_swap)

    def set_selected_default(self) -> None:
        ref = remote_rows.selected_ref(self.tree)
        if ref is not None:
            model_library.set_default(self.store, ref)
            self._fill(self.entries)
            return
        entry = self.selected()
        if entry is not None and entry.usable:
            model_library.set_default(self.store, entry.model.path)
            for other in self.entries:
                other.is_default = other is entry
            self._fill(self.entries)

    def reveal_selected(self) -> None:
        entry = self.selected()
        if entry is not None:
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(Path(entry.model.path).parent)))

    def delete_selected(self) -> None:
        entry = self.selected()
        if entry is None or not entry.model.downloaded_by_hearth:
            return
        answer = QtWidgets.QMessageBox.question(
            self, "Delete model", f"Delete {entry.model.display_name} "
            f"({format_bytes(entry.model.size)}) from this computer?\n\n{entry.model.path}")
        if answer != QtWidgets.QMessageBox.StandardButton.Yes:
            return
        loaded, loading = self.session.model, self.session.loading_path
        if loading is not None and Path(loading) == Path(entry.model.path):
            self.session.cancel_load()
        if loaded is not None and Path(loaded.path) == Path(entry.model.path):
            self.session.unload()
        try:
            model_library.delete_downloaded(entry.model)
        except OSError as exc:
            QtWidgets.QMessageBox.warning(self, "Delete model", str(exc))
            return
        if entry.is_default:
            model_library.set_default(self.store, None)
        self.refresh()

    # -- loading feedback ------------------------------------------------------------------------

    def _on_model_changed(self, info) -> None:
        if info is not None:
            self.load_bar.hide()
            self.load_state.setText(f"Loaded {info.name} with a {info.n_ctx:,}-token context.")
        elif self.session.loading_path is None:
            self.load_bar.hide()
            self.load_state.setText("")
        if info is not None and not any(Path(e.model.path) == Path(info.path) for e in self.entries):
            self.refresh()  # a file opened from elsewhere: list it
        elif self.entries:
            self._fill(self.entries)  # the loaded and default marks move
        else:
            self._show_selected()

    def _on_loading(self, path: str) -> None:
        self.load_bar.setValue(0)
        self.load_bar.show()
        self.load_state.setText(f"Loading {Path(path).name}…")

    def _on_progress(self, path: str, fraction: float) -> None:
        self.load_bar.setValue(int(fraction * 100))

    def _on_load_failed(self, message: str) -> None:
        self.load_bar.hide()
        self.load_state.setText(message)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh()

