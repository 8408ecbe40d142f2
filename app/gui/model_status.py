"""How the window shows the model's state: the status bar's label, the title, the banner while
a model loads (with Cancel), when it fails or would not fit (Load anyway), and the hint to
choose one when none is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.core import model_library
from app.gui.qt import QObject

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

CHOOSE_MODEL = "Choose a model…"


class ModelStatus(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        s = window.session
        s.loading.connect(self._on_loading)
        s.changed.connect(self._on_changed)
        s.loaded.connect(self._on_loaded)
        s.failed.connect(lambda _path, message: self._on_failed(message))
        s.refused.connect(self._on_refused)
        s.progress.connect(self._on_progress)

    def show_no_model(self) -> None:
        w = self.window
        if w.session.model is None and w.session.loading_path is None:
            w.show_banner("No model is loaded. Choose one (gpt-oss-20b is the one Hearth is "
                          "made for) to start chatting.", "info", CHOOSE_MODEL, w.show_welcome)

    def _on_loaded(self, info) -> None:
        store = self.window.store
        if model_library.default_model(store) is None:  # the first model becomes the default
            model_library.set_default(store, info.path)

    def _on_loading(self, path: str) -> None:
        w = self.window
        w.model_label.setText(f"Loading {Path(path).name}…")
        w.show_banner(f"Loading {Path(path).name}…", "busy", "Cancel", w.session.cancel_load)

    def _on_progress(self, path: str, fraction: float) -> None:
        if self.window.session.loading_path == path:
            self.window.banner.label.setText(f"Loading {Path(path).name}… {fraction:.0%}")

    def _on_refused(self, path: str, why: str) -> None:
        w = self.window
        w.show_banner(why, "error", "Load anyway", lambda: w.session.load(path, allow_swap=True))

    def _on_changed(self, info) -> None:
        w = self.window
        if info is None:
            w.model_label.setText("No model")
            w.setWindowTitle("Hearth")
            self.show_no_model()  # replaced at once by a failure's message, if there is one
            return
        w.composer.set_reasoning(info.reasoning)
        w.banner.hide()
        w.window_tools.button.set_model(info.harmony)
        if info.template_warning:
            w.show_banner(info.template_warning, "info")
        w.model_label.setText(info.name)
        w.setWindowTitle(f"Hearth — {info.name}")

    def _on_failed(self, message: str) -> None:
        w = self.window
        w.show_banner(message, "error", CHOOSE_MODEL, w.show_welcome)
