"""Settings → Engines: models served elsewhere (vLLM, llama-server, Ollama, LM Studio, a
gateway). Add an endpoint (its address, an API key kept in the system keyring, how to talk
to it), test the connection (which lists its models), then load a model now, make it the
default, or set it for the open chat. All network work runs off the GUI thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core import engines, model_library
from app.gui.background import BackgroundOp
from app.gui.qt import Qt, QtWidgets
from common.errors import UserError

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow

MODES = (("Automatic (harmony for gpt-oss)", "auto"),
         ("Harmony: Hearth renders gpt-oss's prompts (/v1/completions)", "harmony"),
         ("Chat API: the server renders (/v1/chat/completions)", "chat"))
NEW = "New endpoint"


def show(win: MainWindow) -> EnginesDialog:
    """Open the dialog (one at a time), kept on the window while it is open."""
    dialog = EnginesDialog(win)
    dialog.open()
    win.engines_dialog = dialog
    return dialog


class EnginesDialog(QtWidgets.QDialog):
    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.setWindowTitle("Engines")
        self.win, self.store = win, win.store
        self.endpoints = QtWidgets.QListWidget()
        self.endpoints.currentRowChanged.connect(lambda _row: self._show_endpoint())
        add = QtWidgets.QPushButton("Add")
        add.clicked.connect(self.add_endpoint)
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_endpoint)

        self.name = QtWidgets.QLineEdit()
        self.name.setPlaceholderText("GPU box")
        self.url = QtWidgets.QLineEdit()
        self.url.setPlaceholderText("http://gpu-box:8000/v1")
        self.key = QtWidgets.QLineEdit()
        self.key.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("optional; kept in the system keyring")
        self.mode = QtWidgets.QComboBox()
        for label, _value in MODES:
            self.mode.addItem(label)
        self.n_ctx = QtWidgets.QSpinBox()
        self.n_ctx.setRange(0, 2_000_000)
        self.n_ctx.setSingleStep(4096)
        self.n_ctx.setSpecialValueText("as the server says")
        self.n_ctx.setSuffix(" tokens")
        form = QtWidgets.QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Address", self.url)
        form.addRow("API key", self.key)
        form.addRow("Talk to it by", self.mode)
        form.addRow("Context size", self.n_ctx)

        self.save_button = QtWidgets.QPushButton("Save and test connection")
        self.save_button.setObjectName("primaryButton")
        self.save_button.clicked.connect(self.save_and_test)
        self.status = QtWidgets.QLabel("Add an endpoint: an OpenAI-compatible server.")
        self.status.setObjectName("facts")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.models = QtWidgets.QListWidget()
        self.models.itemDoubleClicked.connect(lambda _item: self.load_selected())
        self.load_button = QtWidgets.QPushButton("Load")
        self.load_button.clicked.connect(self.load_selected)
        self.default_button = QtWidgets.QPushButton("Set as default")
        self.default_button.clicked.connect(self.set_default)
        self.chat_button = QtWidgets.QPushButton("Use for this chat")
        self.chat_button.clicked.connect(self.use_for_chat)
        self.models.currentRowChanged.connect(lambda _row: self._sync_buttons())

        left = QtWidgets.QVBoxLayout()
        left.addWidget(self.endpoints, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(add)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        right = QtWidgets.QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.save_button)
        right.addWidget(self.status)
        right.addWidget(QtWidgets.QLabel("Models it serves"))
        right.addWidget(self.models, 1)
        actions = QtWidgets.QHBoxLayout()
        for button in (self.load_button, self.default_button, self.chat_button):
            actions.addWidget(button)
        right.addLayout(actions)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        body = QtWidgets.QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(body)
        note = QtWidgets.QLabel("Hearth only contacts the addresses entered here (and only to "
                                "run or list models). Keys never go into Hearth's database.")
        note.setObjectName("facts")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addWidget(close)
        self.resize(820, 480)
        self._fill()

    # -- the list of endpoints ---------------------------------------------------------------

    def _fill(self, select_url: str | None = None) -> None:
        self.saved = engines.endpoints(self.store)
        self.endpoints.blockSignals(True)
        self.endpoints.clear()
        for endpoint in self.saved:
            self.endpoints.addItem(endpoint.label)
        self.endpoints.blockSignals(False)
        index = next((i for i, e in enumerate(self.saved) if e.url == select_url), 0)
        if self.saved:
            self.endpoints.setCurrentRow(index)
        self._show_endpoint()

    def current(self) -> engines.Endpoint | None:
        row = self.endpoints.currentRow()
        return self.saved[row] if 0 <= row < len(self.saved) else None

    def _show_endpoint(self) -> None:
        endpoint = self.current()
        self.remove_button.setEnabled(endpoint is not None)
        self.name.setText(endpoint.name if endpoint else "")
        self.url.setText(endpoint.url + "/v1" if endpoint else "")
        self.key.clear()
        self.key.setPlaceholderText("kept in the system keyring" if endpoint and
                                    engines.api_key(endpoint.url) else "optional; kept in the system keyring")
        modes = [value for _label, value in MODES]
        self.mode.setCurrentIndex(modes.index(endpoint.mode) if endpoint else 0)
        self.n_ctx.setValue(endpoint.n_ctx or 0 if endpoint else 0)
        self._show_models(endpoint.models if endpoint else ())

    def _show_models(self, models) -> None:
        self.models.clear()
        for model in models:
            self.models.addItem(model)
        if models:
            self.models.setCurrentRow(0)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        chosen = self.models.currentItem() is not None and self.current() is not None
        for button in (self.load_button, self.default_button):
            button.setEnabled(chosen)
        self.chat_button.setEnabled(chosen and bool(self.win.controller.conversation_id))

    def add_endpoint(self) -> None:
        self.endpoints.clearSelection()
        self.endpoints.setCurrentRow(-1)
        self._show_endpoint()
        self.status.setText("Enter the server's address (its OpenAI base URL), then save.")
        self.url.setFocus()

    def remove_endpoint(self) -> None:
        endpoint = self.current()
        if endpoint is not None:
            engines.delete_endpoint(self.store, endpoint.url)
            self._fill()

    # -- saving and testing ------------------------------------------------------------------

    def save_and_test(self) -> None:
        n_ctx = self.n_ctx.value() or None
        try:
            endpoint = engines.save_endpoint(self.store, engines.Endpoint(
                self.url.text(), self.name.text(), MODES[self.mode.currentIndex()][1], n_ctx,
                self.current().models if self.current() else ()))
        except UserError as exc:
            self.status.setText(str(exc))
            return
        note = ""
        if self.key.text():
            try:
                engines.set_api_key(endpoint.url, self.key.text())
            except engines.KeyringUnavailable as exc:
                note = f" {exc}"
        self.key.clear()
        self._fill(endpoint.url)
        self.test(endpoint, note)

    def test(self, endpoint: engines.Endpoint, note: str = "") -> None:
        """Ask the endpoint what it serves, off the GUI thread; remember the answer."""
        self.status.setText(f"Connecting to {endpoint.url}…")
        self.save_button.setEnabled(False)
        key = engines.api_key(endpoint.url)

        def done(models) -> None:
            self.save_button.setEnabled(True)
            ids = tuple(m.id for m in models)
            engines.save_endpoint(self.store, engines.Endpoint(
                endpoint.url, endpoint.name, endpoint.mode, endpoint.n_ctx, ids))
            self.saved = engines.endpoints(self.store)
            self._show_models(ids)
            self.status.setText(f"Connected: {len(ids)} model{'s' if len(ids) != 1 else ''} "
                                f"served.{note}")
            if self.win.manager is not None and self.win.manager.isVisible():
                self.win.manager.refresh()

        def failed(exc: BaseException) -> None:
            self.save_button.setEnabled(True)
            self.status.setText((str(exc) if isinstance(exc, UserError)
                                 else f"Could not connect: {exc}") + note)

        (BackgroundOp(self, lambda: engines.remote_models(endpoint.url, key))
         .success(done).failure(failed).run_in_background())

    # -- using a model -----------------------------------------------------------------------

    def selected_ref(self) -> str | None:
        endpoint, item = self.current(), self.models.currentItem()
        return engines.ref(endpoint.url, item.text()) if endpoint and item else None

    def load_selected(self) -> None:
        ref = self.selected_ref()
        if ref:
            self.win.session.load(ref)
            self.status.setText(f"Connecting to {engines.ref_label(ref)}…")

    def set_default(self) -> None:
        ref = self.selected_ref()
        if ref:
            model_library.set_default(self.store, ref)
            self.status.setText(f"{engines.ref_label(ref)} is the default model now.")

    def use_for_chat(self) -> None:
        ref, chat = self.selected_ref(), self.win.controller.conversation_id
        if ref and chat:
            engines.set_chat_engine(self.store, chat, ref)
            self.win.session.load(ref)
            self.status.setText(f"This chat uses {engines.ref_label(ref)} from now on.")
