"""The window's tools: the registry (built-in tools, the browser, MCP servers), the composer's
Tools menu, and Tool settings; rebuilt when the search service or the MCP servers change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.tools import registry as tool_registry
from app.core.tools import setup
from app.core.tools.registry import ToolRegistry
from app.gui.background import GuiCall
from app.gui.chat.tools_menu import ToolsButton
from app.gui.qt import QObject
from app.gui.tools_settings import ToolsSettings
from common.errors import UserError

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


class WindowTools(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._on_gui = GuiCall(self)
        self.error: str | None = None
        self.registry = self._build()
        self.button = ToolsButton(window.store, self.registry,
                                  lambda: window.controller.conversation_id, self.show_settings)
        window.controller.conversation_opened.connect(lambda _cid: self.button.refresh_label())
        self.settings: ToolsSettings | None = None

    def _build(self) -> ToolRegistry:
        store = self.window.store
        tools = ToolRegistry(store.path.parent)
        try:
            setup.add_optional_tools(
                tools, search_url=tool_registry.search_url(store),
                on_mcp_status=lambda _status: self._on_gui(self._on_mcp_status))
            self.error = None
        except UserError as exc:  # a broken mcp.json: the other tools still work
            self.error = str(exc)
        self.window.controller.tools = tools
        return tools

    def _on_mcp_status(self) -> None:
        self.button.refresh_label()
        if self.settings is not None and self.settings.isVisible():
            self.settings.refresh()

    def show_settings(self) -> None:
        dialog = ToolsSettings(self.window.store, self.registry, self.window)
        dialog.changed.connect(self.rebuild)
        dialog.open()
        self.settings = dialog  # kept for tests, alive while open

    def rebuild(self) -> None:
        """The search service or the MCP servers changed: new tools from the next answer on."""
        chat = self.window.controller
        if chat.busy:
            chat.busy_changed.connect(self._rebuild_when_idle)
            return
        old, self.registry = self.registry, self._build()
        self.button.tools = self.registry
        if self.settings is not None:
            self.settings.tools = self.registry
            self.settings.refresh()
        self.button.refresh_label()
        old.close()
        if self.error:
            self.window.show_banner(f"MCP servers: {self.error}", "error")

    def _rebuild_when_idle(self, busy: bool) -> None:
        if not busy:
            self.window.controller.busy_changed.disconnect(self._rebuild_when_idle)
            self.rebuild()

    def close(self) -> None:
        self.registry.close()
