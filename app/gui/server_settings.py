"""Settings → Local server: let other apps (editors, scripts, `llm`, agents) use the model
loaded in Hearth through an OpenAI-compatible API. Off by default; on this machine only
unless the person chooses the network, which is said plainly."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.engines import KeyringUnavailable
from app.core.server import local_settings
from app.core.server.runner import lan_warning
from app.gui.qt import Qt, QtWidgets

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


def show(win: MainWindow) -> ServerSettingsDialog:
    dialog = ServerSettingsDialog(win)
    dialog.open()
    win.server_dialog = dialog
    return dialog


class ServerSettingsDialog(QtWidgets.QDialog):
    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.setWindowTitle("Local server")
        self.win = win
        current = local_settings.load(win.store)
        self.enabled = QtWidgets.QCheckBox("Let other apps use the loaded model (OpenAI-compatible API)")
        self.enabled.setChecked(current.enabled)
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(current.port)
        self.key = QtWidgets.QLineEdit()
        self.key.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("kept in the system keyring" if local_settings.api_key()
                                    else "none: any app on this machine may use it")
        self.clear_key = QtWidgets.QCheckBox("No API key")
        self.lan = QtWidgets.QCheckBox("Also serve other machines on the network")
        self.lan.setChecked(current.lan)
        self.record = QtWidgets.QCheckBox("Keep other apps' conversations as chats")
        self.record.setChecked(current.record)
        self.record.setToolTip("Each request becomes a chat titled “API: …”, to read, search "
                               "and continue here")
        self.warning = QtWidgets.QLabel()
        self.warning.setObjectName("modelError")
        self.warning.setWordWrap(True)
        self.status = QtWidgets.QLabel()
        self.status.setObjectName("facts")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for box in (self.enabled, self.lan):
            box.toggled.connect(lambda _on: self._sync())
        self.port.valueChanged.connect(lambda _v: self._sync())

        form = QtWidgets.QFormLayout()
        form.addRow("", self.enabled)
        form.addRow("Port", self.port)
        form.addRow("API key", self.key)
        form.addRow("", self.clear_key)
        form.addRow("", self.lan)
        form.addRow("", self.record)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.setMinimumWidth(480)
        self._sync()

    def chosen(self) -> local_settings.LocalServer:
        return replace(local_settings.load(self.win.store), enabled=self.enabled.isChecked(),
                       port=self.port.value(), lan=self.lan.isChecked(),
                       record=self.record.isChecked())

    def _sync(self) -> None:
        chosen = self.chosen()
        has_key = bool(self.key.text()) or (local_settings.api_key() is not None
                                            and not self.clear_key.isChecked())
        warning = lan_warning(chosen.server_settings("key" if has_key else None)) \
            if chosen.enabled else None
        self.warning.setText(f"{warning} Set an API key." if warning and not has_key else warning or "")
        self.warning.setVisible(bool(warning))
        engines = self.win.window_engines
        if engines.server is not None:
            self.status.setText(f"Serving at {engines.server.url} — point an OpenAI client's "
                                "base URL there; the model's id is listed at /v1/models.")
        else:
            self.status.setText(engines.error or "Off.")

    def accept(self) -> None:
        try:
            if self.clear_key.isChecked():
                local_settings.set_api_key(None)
            elif self.key.text():
                local_settings.set_api_key(self.key.text())
        except KeyringUnavailable as exc:
            self.status.setText(str(exc))
            return
        chosen = self.chosen()
        local_settings.save(self.win.store, chosen)
        error = self.win.window_engines.apply(chosen)
        if error:
            self.status.setText(error)  # stay open: the port is taken, say, so choose another
            return
        super().accept()
