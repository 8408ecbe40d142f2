"""Choosing the model from the window: Open model…, a folder of models, a finished download,
and the model manager. A mixin of MainWindow, which owns the session and the welcome page."""

from __future__ import annotations

from pathlib import Path

from app.core import model_library
from app.gui import menus
from app.gui.models.manager import ModelManager
from app.gui.qt import QtWidgets


class ModelChoice:
    def use_model(self, path: str) -> None:
        """The user picked a model to chat with: it becomes the default and loads."""
        model_library.set_default(self.store, path)
        self.session.load(path)
        self.show_chat()

    def _on_download_finished(self, path: str) -> None:
        """A download finished in the background: use it now only if that interrupts nothing."""
        if self.session.model is None and self.session.loading_path is None:
            self.use_model(path)
        else:
            self.show_banner(f"{Path(path).name} is downloaded and verified.", "info",
                              "Switch to it", lambda: self.use_model(path))

    def choose_model(self) -> None:
        start = str(Path(self.session.model.path).parent) if self.session.model else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, menus.OPEN_MODEL, start, "GGUF models (*.gguf);;All files (*)")
        if path:
            self.use_model(path)

    def add_model_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Add a folder with GGUF models",
                                                            str(Path.home()))
        if folder:
            model_library.add_folder(self.store, folder)
            self.welcome.refresh()
            if self.manager is not None and self.manager.isVisible():
                self.manager.refresh()

    def show_model_manager(self) -> None:
        if self.manager is None:
            self.manager = ModelManager(self.store, self.session, self.downloads, self)
            self.manager.add_folder_requested.connect(self.add_model_folder)
        self.manager.show()
        self.manager.raise_()
        self.manager.activateWindow()
