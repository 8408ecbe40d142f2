"""Tool settings: the browser's search service, the MCP servers (their state, the config
file, importing Claude Desktop's or LM Studio's), and the tools on in new chats."""

from __future__ import annotations

from pathlib import Path

from app.core.tools import registry as tool_registry
from app.core.tools.registry import ToolRegistry
from app.gui.qt import QtCore, QtGui, QtWidgets, Signal
from common.errors import UserError
from storage import Store


class ToolsSettings(QtWidgets.QDialog):
    changed = Signal()  # the registry should be rebuilt (search service or MCP servers changed)

    def __init__(self, store: Store, tools: ToolRegistry, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tool settings")
        self.store, self.tools = store, tools
        self.search_url = QtWidgets.QLineEdit(tool_registry.search_url(store) or "")
        self.search_url.setPlaceholderText("https://searx.example.org (a SearXNG address)")
        browser_note = QtWidgets.QLabel(
            "The browser is the one tool that reaches the internet: it sends the model's "
            "searches to this service and opens the pages it finds. It stays off until you "
            "name a service here and turn it on in a chat's Tools menu. The service must allow "
            "JSON results (search.formats in its settings.yml).")
        browser_note.setWordWrap(True)
        browser_note.setObjectName("facts")

        self.servers = QtWidgets.QListWidget()
        self.servers.setObjectName("mcpServers")
        self.error = QtWidgets.QLabel()
        self.error.setObjectName("modelError")
        self.error.setWordWrap(True)
        self.error.hide()
        import_button = QtWidgets.QPushButton("Import a config file…")
        import_button.setToolTip("Claude Desktop's claude_desktop_config.json, LM Studio's "
                                 "mcp.json, or any file in the mcpServers format")
        import_button.clicked.connect(self.import_config)
        open_button = QtWidgets.QPushButton("Open mcp.json")
        open_button.clicked.connect(self.open_config)
        mcp_buttons = QtWidgets.QHBoxLayout()
        mcp_buttons.addWidget(import_button)
        mcp_buttons.addWidget(open_button)
        mcp_buttons.addStretch(1)

        form = QtWidgets.QFormLayout()
        form.addRow("Browser search service", self.search_url)
        form.addRow("", browser_note)
        box = QtWidgets.QGroupBox("MCP servers")
        inner = QtWidgets.QVBoxLayout(box)
        inner.addWidget(self.servers)
        inner.addWidget(self.error)
        inner.addLayout(mcp_buttons)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Save |
                                             QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(box, 1)
        layout.addWidget(buttons)
        self.resize(620, 480)
        self.refresh()

    def refresh(self) -> None:
        self.servers.clear()
        mcp = self.tools.mcp
        if mcp is None:
            self.servers.addItem("No MCP servers yet: import a config file, or add them to "
                                 "mcp.json in the data folder.")
            return
        for status in mcp.statuses().values():
            text = f"{status.name} — {status.state}"
            if status.tools:
                text += f" — {len(status.tools)} tools"
            if status.state == "failed":
                text += f"\n    {status.reason}"
                if status.stderr_tail:
                    text += f"\n    {status.stderr_tail.strip().splitlines()[-1][:200]}"
            self.servers.addItem(text)

    def save(self) -> None:
        url = self.search_url.text().strip()
        if url and not url.startswith(("http://", "https://")):
            self._show_error("The search service's address must start with http:// or https://.")
            return
        self.store.settings.set(tool_registry.SEARCH_URL_KEY, url)
        self.changed.emit()
        self.accept()

    def import_config(self) -> None:
        from app.core.tools.mcp_config import import_config

        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Import MCP servers", str(Path.home()), "JSON files (*.json);;All files (*)")
        if not path:
            return
        try:
            names = import_config(Path(path), self.tools.data_dir)
        except (UserError, OSError) as exc:
            self._show_error(str(exc))
            return
        self.error.hide()
        self.changed.emit()
        QtWidgets.QMessageBox.information(self, "MCP servers",
                                          f"Imported: {', '.join(names) or 'nothing new'}.")

    def open_config(self) -> None:
        from app.core.tools.mcp_config import config_path

        path = config_path(self.tools.data_dir)
        if not path.exists():
            path.write_text('{\n  "mcpServers": {}\n}\n', encoding="utf-8")
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(path)))

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
