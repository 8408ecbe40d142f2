"""The composer's Tools menu: which tools the model may use in this chat (remembered per chat;
in a chat not yet started, the defaults for new chats), what each can reach, the MCP servers'
state, and the way to Tool settings."""

from __future__ import annotations

from typing import Callable

from app.core.tools import registry as tool_registry
from app.core.tools.registry import ToolRegistry
from app.gui.qt import QtWidgets
from storage import Store


class ToolsButton(QtWidgets.QToolButton):
    def __init__(self, store: Store, tools: ToolRegistry, conversation: Callable[[], int | None],
                 open_settings: Callable[[], None], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("toolsButton")
        self.setText("Tools")
        self.setAutoRaise(True)
        self.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.store, self.tools, self.conversation = store, tools, conversation
        self.open_settings = open_settings
        self.menu_ = QtWidgets.QMenu(self)
        self.menu_.aboutToShow.connect(self.rebuild)
        self.setMenu(self.menu_)
        self.harmony = True  # only gpt-oss was trained for Hearth's tools
        # Adds entries for this chat to the menu (the library's pinned sources), if set.
        self.extra_menu: Callable[[QtWidgets.QMenu, int | None], None] | None = None
        self.refresh_label()

    def set_model(self, harmony: bool) -> None:
        self.harmony = harmony
        self.setEnabled(harmony)
        self.setToolTip("Tools the model may use in this chat" if harmony else
                        "This model was not trained for tools; gpt-oss is.")

    def keys(self) -> list[str]:
        return tool_registry.chat_keys(self.store, self.conversation())

    def refresh_label(self) -> None:
        count = len(self.keys())
        self.setText(f"Tools ({count})" if count else "Tools")

    def rebuild(self) -> None:
        menu = self.menu_
        menu.clear()
        if self.tools.mcp is not None:
            self.tools.mcp.start()  # on demand, off this thread; the menu shows their state
        keys = set(self.keys())
        cid = self.conversation()
        title = menu.addAction("In this chat, the model may use:" if cid else
                               "In new chats, the model may use:")
        title.setEnabled(False)
        for choice in self.tools.choices():
            if choice.key.startswith("mcp:") and "/" not in choice.key:
                continue  # a server's "all its tools" is for the command line
            notes = []
            if choice.needs_approval:
                notes.append("asks before each run")
            if choice.reaches_network:
                notes.append("reaches the internet")
            action = menu.addAction(choice.title + (f"  ({', '.join(notes)})" if notes else ""))
            action.setCheckable(True)
            action.setChecked(choice.key in keys and choice.available)
            action.setEnabled(choice.available)
            action.setToolTip(choice.description if choice.available else choice.why_unavailable)
            action.toggled.connect(lambda on, key=choice.key: self.toggle(key, on))
        if self.tools.mcp is not None:
            menu.addSeparator()
            for status in self.tools.mcp.statuses().values():
                line = f"MCP {status.name}: {status.state}"
                if status.state == "failed":
                    line += f" — {status.reason}"
                menu.addAction(line).setEnabled(False)
        menu.setToolTipsVisible(True)
        if self.extra_menu is not None:
            self.extra_menu(menu, cid)
        menu.addSeparator()
        menu.addAction("Tool settings…", self.open_settings)

    def toggle(self, key: str, on: bool) -> None:
        cid = self.conversation()
        keys = [k for k in self.keys() if k != key] + ([key] if on else [])
        if cid:
            tool_registry.set_chat_keys(self.store, cid, keys)
        else:
            tool_registry.set_default_keys(self.store, keys)
        self.refresh_label()
