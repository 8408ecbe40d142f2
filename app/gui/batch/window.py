"""The batch window: choose a saved prompt, its values, optional columns, the documents; then a
table that fills as rows finish, a progress bar, and pause / resume / cancel / retry failed /
open a row as a chat / export.

Nothing here waits on the model: the job is made on a pool thread (walking a folder can take
a while), and it runs in slices on the engine's thread (driver.py), whose results come back on
the GUI thread.
"""

from __future__ import annotations

from app.core import batch as core
from app.core.batch_schema import load_schema, parse_columns, schema_from_columns
from app.gui.background import BackgroundOp
from app.gui.qt import QtWidgets
from common.errors import UserError
from common.units import format_duration
from storage import Store
from storage.batches import Batches, Row

from .driver import BatchDriver
from .table import STATUS_TEXT, BatchTable


class BatchWindow(BatchTable, QtWidgets.QDialog):
    def __init__(self, store: Store, session, open_chat, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch run")
        self.setObjectName("batchWindow")
        self.resize(1000, 680)
        self.setAcceptDrops(True)
        self.store = store
        self.session = session
        self.open_chat = open_chat
        self.job_id: int | None = None
        self.driver: BatchDriver | None = None
        self._seq_rows: dict[int, int] = {}  # a row's seq → its line in the table
        self._build()
        self.reload_prompts()
        # Another model loading: the batch stops first (its context shares the old weights).
        session.loading.connect(self._model_changing)

    # -- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.prompt = QtWidgets.QComboBox(objectName="batchPrompt")
        self.prompt.currentIndexChanged.connect(self._prompt_changed)
        self.values_form = QtWidgets.QFormLayout()
        self.value_edits: dict[str, QtWidgets.QLineEdit] = {}
        self.columns = QtWidgets.QLineEdit(objectName="batchColumns")
        self.columns.setPlaceholderText("Optional columns: label:spam|ham, score:number, note")
        self.schema = QtWidgets.QPlainTextEdit(objectName="batchSchema")
        self.schema.setPlaceholderText("…or a JSON schema, typed or pasted")
        self.schema.setFixedHeight(52)
        self.files = QtWidgets.QListWidget(objectName="batchFiles")
        self.files.setFixedHeight(60)
        add_files = QtWidgets.QPushButton("Add files…")
        add_files.clicked.connect(self._choose_files)
        add_folder = QtWidgets.QPushButton("Add folder…")
        add_folder.clicked.connect(self._choose_folder)
        self.library_button = QtWidgets.QPushButton("Add library folder", objectName="batchLibrary")
        self.library_menu = QtWidgets.QMenu(self.library_button)
        self.library_menu.aboutToShow.connect(self._fill_library_menu)
        self.library_button.setMenu(self.library_menu)
        clear = QtWidgets.QPushButton("Clear")
        clear.clicked.connect(self.files.clear)
        self.parallel = QtWidgets.QSpinBox(objectName="batchParallel")
        self.parallel.setRange(0, 64)
        self.parallel.setSpecialValueText("auto")
        self.max_tokens = QtWidgets.QSpinBox(objectName="batchMaxTokens")
        self.max_tokens.setRange(8, 32768)
        self.max_tokens.setValue(core.BatchSettings.max_tokens)
        self.max_tokens.setToolTip("The longest answer, reasoning included, in tokens")
        self.start_button = QtWidgets.QPushButton("Start", objectName="batchStart")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)

        form = QtWidgets.QFormLayout()
        form.addRow("Prompt", self.prompt)
        form.addRow(self.values_form)
        form.addRow("Columns", self.columns)
        form.addRow("Schema", self.schema)
        file_buttons = QtWidgets.QHBoxLayout()
        for b in (add_files, add_folder, self.library_button, clear):
            file_buttons.addWidget(b)
        file_buttons.addStretch(1)
        file_buttons.addWidget(QtWidgets.QLabel("Longest answer"))
        file_buttons.addWidget(self.max_tokens)
        file_buttons.addWidget(QtWidgets.QLabel("In parallel"))
        file_buttons.addWidget(self.parallel)
        file_buttons.addWidget(self.start_button)
        files_box = QtWidgets.QVBoxLayout()
        files_box.addWidget(self.files)
        files_box.addLayout(file_buttons)
        form.addRow("Documents", files_box)
        self.setup = QtWidgets.QGroupBox("New batch")
        self.setup.setLayout(form)

        self.table = QtWidgets.QTableWidget(objectName="batchTable")
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.bar = QtWidgets.QProgressBar(objectName="batchProgress")
        self.status = QtWidgets.QLabel("", objectName="batchStatus")
        self.pause_button = QtWidgets.QPushButton("Pause", objectName="batchPause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.cancel_button = QtWidgets.QPushButton("Cancel", objectName="batchCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QtWidgets.QPushButton("Retry failed", objectName="batchRetry")
        self.retry_button.clicked.connect(self.retry_failed)
        self.chat_button = QtWidgets.QPushButton("Open as chat", objectName="batchOpenChat")
        self.chat_button.clicked.connect(self.open_selected_as_chat)
        self.export_button = QtWidgets.QPushButton("Export…", objectName="batchExport")
        self.export_button.clicked.connect(self._choose_export)
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.pause_button, self.cancel_button, self.retry_button, self.chat_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        self.message = QtWidgets.QLabel("", objectName="batchMessage")
        self.message.setWordWrap(True)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.setup)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        progress = QtWidgets.QHBoxLayout()
        progress.addWidget(self.bar, 1)
        progress.addWidget(self.status)
        layout.addLayout(progress)
        layout.addLayout(buttons)
        self._update_buttons()

    def reload_prompts(self) -> None:
        self.prompt.clear()
        for p in self.store.prompts.list():
            self.prompt.addItem(p.name, p.id)

    def _prompt_changed(self) -> None:
        from app.core.prompt_library import variables

        while self.values_form.rowCount():
            self.values_form.removeRow(0)
        self.value_edits = {}
        prompt = self.store.prompts.get(self.prompt.currentData()) if self.prompt.count() else None
        if prompt is None:
            return
        for variable in variables(prompt.body):
            if variable.name in core.PER_DOCUMENT:
                continue
            edit = QtWidgets.QLineEdit(objectName=f"batchVar_{variable.name}")
            if variable.choices:
                edit.setPlaceholderText(" | ".join(variable.choices))
            self.value_edits[variable.name] = edit
            self.values_form.addRow(variable.name, edit)

    # -- documents ------------------------------------------------------------------------

    def add_paths(self, paths) -> None:
        known = {self.files.item(i).text() for i in range(self.files.count())}
        for path in paths:
            if str(path) not in known:
                self.files.addItem(str(path))
                known.add(str(path))

    def _fill_library_menu(self) -> None:
        """The library's folders: a library folder is one more source of paths."""
        from storage.library.folders import Library

        self.library_menu.clear()
        folders = Library(self.store).folders()
        for folder in folders:
            self.library_menu.addAction(folder.name, lambda f=folder: self.add_library(f.path))
        if not folders:
            self.library_menu.addAction("No library folders yet").setEnabled(False)

    def add_library(self, folder: str) -> None:
        try:
            self.add_paths(core.library_paths(self.store, folder))
        except UserError as exc:
            self.show_message(str(exc))

    def _choose_files(self) -> None:
        paths, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Documents for the batch")
        self.add_paths(paths)

    def _choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "A folder of documents")
        if folder:
            self.add_paths([folder])

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.add_paths(u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile())
        event.acceptProposedAction()

    # -- starting -------------------------------------------------------------------------

    def _schema(self) -> dict | None:
        text = self.schema.toPlainText().strip()
        if text:
            return load_schema(text)
        if self.columns.text().strip():
            return schema_from_columns(parse_columns(self.columns.text()))
        return None

    def start(self) -> None:
        model = self.session.model
        try:
            if model is None:
                raise UserError("Load a model first: a batch runs on the model in use.")
            prompt = self.store.prompts.get(self.prompt.currentData())
            if prompt is None:
                raise UserError("Choose a saved prompt.")
            values = {k: e.text() for k, e in self.value_edits.items()}
            settings = core.BatchSettings(model=str(model.path), max_tokens=self.max_tokens.value(),
                                          parallel=self.parallel.value() or None)
            spec = core.make_spec(prompt, values, self._schema(), settings)
            items = [self.files.item(i).text() for i in range(self.files.count())]
            if not items:
                raise UserError("Add documents: files, a folder, or drop them here.")
        except UserError as exc:
            self.show_message(str(exc))
            return
        self.start_button.setEnabled(False)
        store = self.store

        def make():  # a pool thread: walking a big folder must not freeze the window
            with store.reopen() as own:
                return core.create_job(own, spec, core.expand_sources(items)).id

        (BackgroundOp(self, make).success(self._job_made).failure(self._not_made)
         .run_in_background())

    def _not_made(self, exc: BaseException) -> None:
        self.start_button.setEnabled(True)
        self.show_message(str(exc) if isinstance(exc, UserError) else f"The batch could not "
                          f"be made: {exc}")

    def _job_made(self, job_id: int) -> None:
        self.start_button.setEnabled(True)
        self.open_job(job_id)
        self.resume()

    def _model_changing(self, _path: str) -> None:
        if self.driver is not None:
            self.driver.release_now()

    def open_job(self, job_id: int) -> None:
        """Show a job's table (a new one, or one left paused, even by an earlier session)."""
        if self.driver is not None:
            self.driver.shutdown()
        self.job_id = job_id
        self.driver = BatchDriver(self.session, job_id, self)
        self.driver.rows_done.connect(self._rows_done)
        self.driver.progress.connect(self._progress)
        self.driver.stopped.connect(self._stopped)
        self.driver.failed.connect(self._driver_failed)
        self._fill_table()
        self.show_message("")

    def _progress(self, progress) -> None:
        for seq in progress.running:  # rows in flight: "running", until their row comes back
            line = self._seq_rows.get(seq)
            item = self.table.item(line, 1) if line is not None else None
            if item is not None and item.text() == STATUS_TEXT["pending"]:
                item.setText(STATUS_TEXT["running"])
        self.bar.setRange(0, max(1, progress.total))
        self.bar.setValue(progress.finished)
        parts = [f"{progress.finished} of {progress.total} rows"]
        if progress.failed:
            parts.append(f"{progress.failed} failed")
        parts.append(f"{progress.tokens_per_s:.1f} tok/s")
        if progress.seconds_left is not None and progress.finished < progress.total:
            parts.append(f"about {format_duration(progress.seconds_left)} left")
        self.status.setText(" · ".join(parts))

    def _stopped(self, how: str) -> None:
        self._fill_table()
        self.show_message({"done": "Finished.", "paused": "Paused: Resume carries on, also "
                           "after Hearth restarts.", "cancelled": "Cancelled."}.get(how, how))
        self._update_buttons()

    def _driver_failed(self, message: str) -> None:
        self.show_message(message)
        self._update_buttons()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- actions --------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        running = bool(self.driver and self.driver.running)
        status = Batches(self.store).get(self.job_id).status if self.job_id else None
        self.pause_button.setEnabled(self.job_id is not None and status != "done")
        self.pause_button.setText("Pause" if running else "Resume")
        self.cancel_button.setEnabled(running or status in ("paused", "ready"))
        has_failed = bool(self.job_id and Batches(self.store).counts(self.job_id).failed)
        self.retry_button.setEnabled(has_failed and not running)
        self.chat_button.setEnabled(self._selected_row() is not None)
        self.export_button.setEnabled(self.job_id is not None)

    def toggle_pause(self) -> None:
        if self.driver is None:
            return
        if self.driver.running:
            self.driver.pause()
            self.pause_button.setEnabled(False)  # until the slice in flight comes back
        else:
            self.resume()

    def resume(self) -> None:
        if self.driver is not None and self.session.model is None:
            self.show_message("Load a model first: a batch runs on the model in use.")
            return
        if self.driver is not None:
            self.show_message("")
            self.driver.start()
            self._update_buttons()

    def cancel(self) -> None:
        if self.driver is not None:
            self.driver.cancel()

    def retry_failed(self) -> None:
        if self.job_id is None:
            return
        Batches(self.store).retry_failed(self.job_id)
        self._fill_table()
        self.resume()

    def _selected_row(self) -> Row | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or self.job_id is None:
            return None
        row = Batches(self.store).row(self._row_ids.get(rows[0].row(), -1))
        return row if row is not None and row.status == "done" else None

    def open_selected_as_chat(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.open_chat(core.open_as_chat(self.store, row.id))

    def _choose_export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Export the table", "results.csv", "CSV (*.csv);;JSON Lines (*.jsonl)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        store, job_id = self.store, self.job_id

        def write():
            with store.reopen() as own:
                return core.export(own, job_id, path)

        (BackgroundOp(self, write)
         .success(lambda n: self.show_message(f"Exported {n} rows to {path}."))
         .failure(lambda exc: self.show_message(str(exc))).run_in_background())

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.driver is not None:
            self.driver.shutdown()
        super().closeEvent(event)
