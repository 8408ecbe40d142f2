"""A catalog model's download: a button, then bytes / speed / time left with Pause and Cancel."""

from __future__ import annotations

from app.gui.models.downloads import DownloadManager
from app.gui.qt import QtWidgets, Signal
from common.units import format_bytes, format_duration
from inference.models.catalog import CatalogModel
from inference.models.download import Progress


class DownloadPanel(QtWidgets.QWidget):
    finished = Signal(str)  # path of the verified file

    def __init__(self, manager: DownloadManager, model: CatalogModel, parent=None) -> None:
        super().__init__(parent)
        self.manager, self.model = manager, model
        self.key = manager.key(model.repo_id, model.filename)
        self.start_button = QtWidgets.QPushButton()
        self.start_button.setObjectName("primaryButton")
        self.pause_button = QtWidgets.QPushButton("Pause")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.detail = QtWidgets.QLabel()
        self.detail.setObjectName("downloadDetail")
        self.detail.setWordWrap(True)

        buttons = QtWidgets.QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)
        layout.addLayout(buttons)

        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(lambda: self.manager.pause(self.key))
        self.cancel_button.clicked.connect(self._cancel)
        manager.progress.connect(self._on_progress)
        manager.started.connect(lambda key: key == self.key and self._show_running())
        manager.paused.connect(lambda key: key == self.key and self._show_idle())
        manager.failed.connect(self._on_failed)
        manager.finished.connect(self._on_finished)
        self._show_running() if manager.is_running(self.key) else self._show_idle()

    def start(self) -> None:
        self.manager.start(self.model.repo_id, self.model.filename)

    def _cancel(self) -> None:
        answer = QtWidgets.QMessageBox.question(
            self, "Cancel download", f"Stop downloading {self.model.title} and delete the part "
            "downloaded so far?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            self.manager.cancel(self.model.repo_id, self.model.filename)

    def _show_idle(self, error: str | None = None) -> None:
        done = self.manager.partial_bytes(self.model.repo_id, self.model.filename)
        self.pause_button.hide()
        self.cancel_button.setVisible(done > 0)
        self.start_button.show()
        if done:
            self.start_button.setText("Resume download")
            self.bar.show()
            self.bar.setValue(int(1000 * done / self.model.size))
            text = f"Paused: {format_bytes(done)} of {format_bytes(self.model.size)} downloaded."
        else:
            self.start_button.setText("Try again" if error else
                                      f"Download {self.model.title} ({format_bytes(self.model.size)})")
            self.bar.hide()
            text = ""
        if error:
            text = f"{error} {text}".strip()
        self.detail.setProperty("error", bool(error))
        self.detail.style().polish(self.detail)
        self.detail.setText(text)
        self.detail.setVisible(bool(text))

    def _show_running(self) -> None:
        self.start_button.hide()
        self.pause_button.show()
        self.cancel_button.show()
        self.bar.show()
        self.detail.show()
        self.detail.setProperty("error", False)
        self.detail.style().polish(self.detail)
        if not self.detail.text() or "Paused" in self.detail.text():
            self.detail.setText("Connecting to Hugging Face…")

    def _on_progress(self, key: str, progress: Progress) -> None:
        if key != self.key:
            return
        self.bar.setValue(int(1000 * progress.fraction))
        parts = [f"{format_bytes(progress.done)} of {format_bytes(progress.total)}"]
        if progress.bytes_per_second > 0:
            parts.append(f"{format_bytes(progress.bytes_per_second)}/s")
        if progress.seconds_left is not None:
            parts.append(f"{format_duration(progress.seconds_left)} left")
        if progress.done >= progress.total:
            parts = [f"Checking {format_bytes(progress.total)}…"]
        self.detail.setText(" · ".join(parts))

    def _on_failed(self, key: str, message: str) -> None:
        if key == self.key:
            self._show_idle(error=message)

    def _on_finished(self, key: str, path: str) -> None:
        if key == self.key:
            self.pause_button.hide()
            self.cancel_button.hide()
            self.detail.setText("Downloaded and verified.")
            self.finished.emit(path)
