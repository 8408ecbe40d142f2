"""The batch window's table: a row per document, its status, the schema's columns, tokens, time
and the reason a row failed; rows are shown again as they finish. A mixin of BatchWindow
(window.py), which owns the job, the table widget and the progress bar."""

from __future__ import annotations

from pathlib import Path

from app.core import batch as core
from app.core.batch_schema import column_names
from app.gui.qt import QtWidgets
from storage.batches import Batches, Row

STATUS_TEXT = {"pending": "waiting", "running": "running", "done": "done", "failed": "failed"}


class BatchTable:
    def _fill_table(self) -> None:
        batches = Batches(self.store)
        job = batches.get(self.job_id)
        rows = batches.rows(self.job_id)
        self.columns_shown = column_names(job.spec.get("schema"))
        headers = ["File", "Status", *self.columns_shown, "Tokens", "Time", "Reason"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        self._seq_rows = {}
        self._row_ids = {}
        for line, row in enumerate(rows):
            self._seq_rows[row.seq] = line
            self._show_row(row)
        self._fit_columns()
        counts = batches.counts(self.job_id)
        self.bar.setRange(0, max(1, counts.total))
        self.bar.setValue(counts.finished)
        self._update_buttons()

    def _show_row(self, row: Row) -> None:
        line = self._seq_rows[row.seq]
        self._row_ids[line] = row.id
        done = row.status == "done"
        cells = [Path(row.path).name, STATUS_TEXT.get(row.status, row.status)]
        cells += [core._cell(row.columns.get(c, "")) if done else "" for c in self.columns_shown]
        cells += [str(row.generated_tokens or ""), f"{row.seconds:.1f} s" if row.seconds else "",
                  row.reason or ""]
        for col, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(str(text))
            if col == 0:
                item.setToolTip(row.path)
            self.table.setItem(line, col, item)

    def _fit_columns(self) -> None:
        self.table.resizeColumnsToContents()  # then capped: a long summary must not push
        for col in range(self.table.columnCount() - 1):  # the other columns out of sight
            self.table.setColumnWidth(col, min(self.table.columnWidth(col), 320))

    def _rows_done(self, rows: list) -> None:
        for row in rows:
            if row.seq in self._seq_rows:
                self._show_row(row)
        if self._seq_rows and len(self._seq_rows) <= 2000:  # measuring 100k rows takes seconds
            self._fit_columns()
