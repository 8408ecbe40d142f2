"""Settings → Library: the folders Hearth indexes, what it takes from each (include/exclude
patterns), indexing progress with pause and resume, and the files it skipped and why.

Changes go to the database here; the indexer process (app/gui/library_runner.py) is told to
scan again and does the work. Removing a folder deletes its rows on a worker thread (ten
thousand of them take a moment) and the indexer then deletes the documents they used."""

from __future__ import annotations

import time

from app.core.library.service import Progress
from app.gui.background import BackgroundOp
from app.gui.library_runner import LibraryRunner
from app.gui.qt import Qt, QtWidgets
from common.errors import UserError
from storage import Store
from storage.library import DEFAULT_EXCLUDE

SKIPPED_SHOWN = 500  # rows in the skipped list; the status line counts them all
REFRESH_S = 2.0  # while indexing, the folders' counts are read again at most this often
FOLDER_ROLE = Qt.ItemDataRole.UserRole


def _patterns(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]


class LibrarySettings(QtWidgets.QDialog):
    def __init__(self, store: Store, runner: LibraryRunner, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Library")
        self.setObjectName("librarySettings")
        self.store, self.runner = store, runner
        self._refreshed = 0.0
        intro = QtWidgets.QLabel(
            "Hearth indexes the documents in these folders (PDF, Word, HTML, Markdown, text, "
            "code, CSV) so you (Ctrl+K) and the model (the Documents tool) can search them. "
            "Files are read where they are; nothing is copied or leaves this computer.")
        intro.setWordWrap(True)
        intro.setObjectName("facts")
        self.folders = QtWidgets.QTreeWidget()
        self.folders.setObjectName("libraryFolders")
        self.folders.setHeaderLabels(["Folder", "Indexed", "Skipped", "Pending"])
        self.folders.setRootIsDecorated(False)
        self.folders.header().setStretchLastSection(False)
        self.folders.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.folders.currentItemChanged.connect(lambda *_: self._show_patterns())
        self.add_button = QtWidgets.QPushButton("Add folder…")
        self.add_button.clicked.connect(lambda: self.add_folder())
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.setToolTip("Forget the folder and its index; the files stay")
        self.remove_button.clicked.connect(self.remove_folder)
        folder_buttons = QtWidgets.QHBoxLayout()
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folder_buttons.addStretch(1)

        self.include = QtWidgets.QLineEdit()
        self.include.setPlaceholderText("every type Hearth reads (e.g. *.md, *.pdf, notes/*)")
        self.exclude = QtWidgets.QLineEdit()
        self.exclude.setToolTip("Matched against file and folder names and paths inside the folder")
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.clicked.connect(self.apply_patterns)
        patterns = QtWidgets.QFormLayout()
        patterns.addRow("Include", self.include)
        exclude_row = QtWidgets.QHBoxLayout()
        exclude_row.addWidget(self.exclude, 1)
        exclude_row.addWidget(self.apply_button)
        patterns.addRow("Exclude", exclude_row)

        self.progress_label = QtWidgets.QLabel()
        self.progress_label.setObjectName("libraryProgress")
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.pause_button = QtWidgets.QPushButton()
        self.pause_button.clicked.connect(self.toggle_pause)
        self.rescan_button = QtWidgets.QPushButton("Rescan")
        self.rescan_button.setToolTip("Look for changes now (they are also picked up as they happen)")
        self.rescan_button.clicked.connect(runner.rescan)
        progress_row = QtWidgets.QHBoxLayout()
        progress_row.addWidget(self.progress_label, 1)
        progress_row.addWidget(self.pause_button)
        progress_row.addWidget(self.rescan_button)

        self.skipped_label = QtWidgets.QLabel("Skipped files")
        self.skipped = QtWidgets.QTreeWidget()
        self.skipped.setObjectName("librarySkipped")
        self.skipped.setHeaderLabels(["File", "Why"])
        self.skipped.setRootIsDecorated(False)
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.setWordWrap(True)
        self.error.hide()
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.folders, 2)
        layout.addLayout(folder_buttons)
        layout.addLayout(patterns)
        layout.addLayout(progress_row)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.skipped_label)
        layout.addWidget(self.skipped, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(720, 640)
        runner.progress.connect(self.show_progress)
        self.refresh()
        self.show_progress(runner.last)

    # -- showing ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """The folders with their counts, and the skipped files: from the database."""
        self._refreshed = time.monotonic()
        current = shown = self._folder_id()
        self.folders.blockSignals(True)  # rebuilding the rows is not choosing a folder
        self.folders.clear()
        for folder in self.store.library.folders():
            counts = self.store.library.counts(folder.id)
            item = QtWidgets.QTreeWidgetItem([folder.shown_path, f"{counts['indexed']:,}",
                                              f"{counts['skipped']:,}", f"{counts['pending']:,}"])
            item.setData(0, FOLDER_ROLE, folder.id)
            item.setToolTip(0, folder.shown_path)
            self.folders.addTopLevelItem(item)
            if folder.id == current or current is None:
                self.folders.setCurrentItem(item)
                current = folder.id
        self.folders.blockSignals(False)
        for column in (1, 2, 3):
            self.folders.resizeColumnToContents(column)
        names = {f.id: f.name for f in self.store.library.folders()}
        self.skipped.clear()
        skipped = self.store.library.files(status="skipped", limit=SKIPPED_SHOWN)
        for file in skipped:
            self.skipped.addTopLevelItem(QtWidgets.QTreeWidgetItem(
                [f"{names.get(file.folder_id, '')}/{file.shown_path}", file.reason or ""]))
        self.skipped.resizeColumnToContents(0)
        total = self.store.library.counts()["skipped"]
        self.skipped_label.setText(f"Skipped files ({total:,})" if total else
                                   "Skipped files: none")
        self.remove_button.setEnabled(self.folders.topLevelItemCount() > 0)
        if shown is None or self._folder_id() != shown:  # same folder: keep what is typed
            self._show_patterns()

    def _folder_id(self) -> int | None:
        item = self.folders.currentItem()
        return item.data(0, FOLDER_ROLE) if item is not None else None

    def _show_patterns(self) -> None:
        folder = self.store.library.folder(self._folder_id()) if self._folder_id() else None
        for widget in (self.include, self.exclude, self.apply_button):
            widget.setEnabled(folder is not None)
        self.include.setText(", ".join(folder.include) if folder else "")
        self.exclude.setText(", ".join(folder.exclude if folder else DEFAULT_EXCLUDE))
        for field in (self.include, self.exclude):
            field.setCursorPosition(0)  # a long list shows its start, not its tail

    def show_progress(self, progress: Progress) -> None:
        self.progress_label.setText(progress.line() + (f" — {progress.current}"
                                                       if progress.current else ""))
        if progress.note:
            self.progress_label.setToolTip(progress.note)
        busy = progress.state in ("scanning", "indexing", "paused")
        self.progress_bar.setVisible(busy)
        if progress.state == "scanning":
            self.progress_bar.setRange(0, 0)  # busy: the total is not known yet
        else:
            self.progress_bar.setRange(0, max(progress.total, 1))
            self.progress_bar.setValue(progress.done)
        self.pause_button.setText("Resume" if self.runner.paused else "Pause")
        self.pause_button.setEnabled(self.runner.paused or busy or progress.state == "idle")
        now = time.monotonic()
        if progress.state in ("idle", "paused", "stopped") or now - self._refreshed > REFRESH_S:
            self.refresh()
        if not self.folders.topLevelItemCount() and not busy:  # nothing to index yet
            self.progress_label.setText("No folders yet: Add folder… chooses one.")
            self.pause_button.setEnabled(self.runner.paused)
        self.rescan_button.setEnabled(self.folders.topLevelItemCount() > 0)

    # -- changing -----------------------------------------------------------------------------

    def add_folder(self, path: str | None = None) -> None:
        path = path or QtWidgets.QFileDialog.getExistingDirectory(self, "Add a library folder")
        if not path:
            return
        try:
            self.store.library.add_folder(path)
        except UserError as exc:
            self._say(str(exc))
            return
        self._say("")
        self.refresh()
        self.runner.rescan()

    def remove_folder(self) -> None:
        folder_id = self._folder_id()
        if folder_id is None:
            return
        store = self.store
        self.remove_button.setEnabled(False)

        def remove() -> None:
            with store.reopen() as own:  # thousands of rows: off the GUI thread
                own.library.remove_folder(folder_id)

        BackgroundOp(self, remove).success(lambda _: (self.refresh(), self.runner.rescan())) \
            .failure(lambda exc: self._say(str(exc))).run_in_background()

    def apply_patterns(self) -> None:
        folder_id = self._folder_id()
        if folder_id is None:
            return
        self.store.library.set_patterns(folder_id, include=_patterns(self.include.text()),
                                        exclude=_patterns(self.exclude.text()))
        self.runner.rescan()

    def toggle_pause(self) -> None:
        if self.runner.paused:
            self.runner.resume()
        else:
            self.runner.pause()
        self.show_progress(self.runner.last)

    def _say(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
