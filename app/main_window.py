"""The main window: sidebar | chat view + composer, a banner, a menu and a status bar."""

from __future__ import annotations

from pathlib import Path

from storage import Store

from .banner import Banner
from .chat.composer import Composer
from .chat.controller import ChatController
from .chat.view import ChatView
from .qt import Qt, QtGui, QtWidgets
from .sidebar import Sidebar

OPEN_MODEL = "Open model…"


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self, store: Store) -> None:
        super().__init__()
        self.setWindowTitle("Hearth")
        self.resize(1100, 760)
        self.store = store
        self.sidebar = Sidebar()
        self.chat_view = ChatView()
        self.composer = Composer()
        self.banner = Banner()
        self.controller = ChatController(store, self.chat_view, self)

        right = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.composer)
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        self.setCentralWidget(splitter)

        self.model_label = QtWidgets.QLabel("No model")
        self.speed_label = QtWidgets.QLabel()
        self.context_label = QtWidgets.QLabel()
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.context_label)
        self._build_menu()
        self._connect()
        self.refresh_conversations()
        conversations = store.conversations.list()
        if conversations:
            self.controller.open_conversation(conversations[0].id)
            self.sidebar.set_conversations(conversations, conversations[0].id)
        self._show_no_model()
        self.composer.edit.setFocus()

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = file_menu.addAction(OPEN_MODEL, self.choose_model)
        self.open_action.setShortcut(QtGui.QKeySequence.StandardKey.Open)
        new = file_menu.addAction("New chat", self.controller.new_conversation)
        new.setShortcut(QtGui.QKeySequence.StandardKey.New)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit", self.close)
        quit_action.setShortcut(QtGui.QKeySequence.StandardKey.Quit)
        stop = QtGui.QAction("Stop", self)
        stop.setShortcut(Qt.Key.Key_Escape)
        stop.triggered.connect(self.controller.stop)
        self.addAction(stop)

    def _connect(self) -> None:
        c = self.controller
        self.composer.send_requested.connect(c.send)
        self.composer.stop_requested.connect(c.stop)
        self.sidebar.new_requested.connect(c.new_conversation)
        self.sidebar.selected.connect(c.open_conversation)
        self.sidebar.rename_requested.connect(c.rename_conversation)
        self.sidebar.delete_requested.connect(c.delete_conversation)
        self.banner.action_clicked.connect(self.choose_model)
        c.conversations_changed.connect(self.refresh_conversations)
        c.busy_changed.connect(self.composer.set_generating)
        c.send_refused.connect(self._on_send_refused)
        c.model_loading.connect(self._on_model_loading)
        c.model_changed.connect(self._on_model_changed)
        c.model_failed.connect(self._on_model_failed)
        c.stats_changed.connect(self._on_stats)
        c.context_changed.connect(self._on_context)

    # -- reactions -----------------------------------------------------------------------------

    def refresh_conversations(self) -> None:
        self.sidebar.set_conversations(self.store.conversations.list(), self.controller.conversation_id)

    def choose_model(self) -> None:
        start = str(Path(self.controller.model.path).parent) if self.controller.model else str(Path.home())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, OPEN_MODEL, start, "GGUF models (*.gguf);;All files (*)")
        if path:
            self.controller.open_model(path)

    def _show_no_model(self) -> None:
        if self.controller.model is None and self.controller.loading_path is None:
            self.banner.show_message("No model is loaded. Open a GGUF file (gpt-oss-20b is the one "
                                     "Hearth is made for) to start chatting.", "info", OPEN_MODEL)

    def _on_model_loading(self, path: str) -> None:
        self.model_label.setText(f"Loading {Path(path).name}…")
        self.banner.show_message(f"Loading {Path(path).name}…", "busy")

    def _on_model_changed(self, info) -> None:
        if info is None:
            self.model_label.setText("No model")
            return
        self.banner.hide()
        self.model_label.setText(info.name)
        self.setWindowTitle(f"Hearth — {info.name}")

    def _on_model_failed(self, message: str) -> None:
        self.banner.show_message(message, "error", OPEN_MODEL)

    def _on_send_refused(self, text: str, why: str) -> None:
        self.composer.restore(text)
        self.statusBar().showMessage(why, 6000)
        if self.controller.model is None and self.controller.loading_path is None:
            self.banner.show_message(why, "info", OPEN_MODEL)

    def _on_stats(self, stats: dict) -> None:
        tps = stats.get("decode_tps") or 0
        self.speed_label.setText(f"{tps:.1f} tokens/s" if tps else "")

    def _on_context(self, used: int, size: int) -> None:
        self.context_label.setText(f"Context {used:,} / {size:,}")

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.controller.shutdown()
        super().closeEvent(event)
