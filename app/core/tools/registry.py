"""Which tools exist, which ones a chat may use, and what the person has allowed.

One registry per process (the window's, or one `hearth chat`): built-in tools are made per
chat where they keep state (python's worker, the browser's pages), MCP servers are shared.
What the person chose is kept in the settings table:

- `tools.defaults`: the tools on in a new chat;
- `tools.chat:<id>`: the tools on in that chat (the composer's Tools menu);
- `tools.allowed:<id>` and `tools.always_allowed`: calls that no longer ask;
- `tools.search_url`: the browser's search service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.core.tool_loop import Approvals, Decision, Toolbox
from app.core.tools.base import Tool, ToolSpec
from app.core.tools.calculator import Calculator
from app.core.tools.clock import Clock
from app.core.tools.documents_tool import DocumentSearch
from storage import Store

log = logging.getLogger(__name__)

DEFAULTS_KEY = "tools.defaults"
CHAT_PREFIX = "tools.chat:"
ALLOWED_PREFIX = "tools.allowed:"
ALWAYS_KEY = "tools.always_allowed"
SEARCH_URL_KEY = "tools.search_url"  # the browser's search service (a SearXNG address)
# On in a new chat: tools with no side effects. Python (it asks before every run) and the
# browser (the network) are one click away in the Tools menu.
DEFAULT_ON = ("calculator", "current_time", "search_documents")


@dataclass(frozen=True)
class ToolChoice:
    """One entry of the Tools menu and `hearth tools list`."""

    key: str  # what the person turns on: "calculator", "browser", "mcp:<server>/<tool>"
    title: str
    description: str
    source: str  # "built-in" or "MCP: <server>"
    specs: tuple[ToolSpec, ...]  # what the model is shown (the browser is three functions)
    needs_approval: bool
    reaches_network: bool
    available: bool = True
    why_unavailable: str = ""


Factory = Callable[[int | None], list[Tool]]  # conversation id → live tools (per chat)


class ToolRegistry:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._factories: dict[str, tuple[ToolChoice, Factory]] = {}
        self._live: dict[tuple[str, int | None], list[Tool]] = {}
        self._sources: list[Callable[..., list[tuple[ToolChoice, Factory]]]] = []
        self.mcp = None  # the MCP servers (app/core/tools/mcp_servers.MCPServers), if any
        for tool in (Calculator(), Clock(), DocumentSearch()):
            self.add(self._choice(tool.spec), lambda _cid, t=tool: [t])

    @staticmethod
    def _choice(spec: ToolSpec, key: str | None = None) -> ToolChoice:
        return ToolChoice(key or spec.name, spec.title or spec.name, spec.description,
                          spec.source, (spec,), spec.approval == "ask", spec.reaches_network)

    def add(self, choice: ToolChoice, factory: Factory) -> None:
        """A tool (or a family of tools, like the browser's three) the person may turn on."""
        self._factories[choice.key] = (choice, factory)

    def add_source(self, source: Callable[..., list[tuple[ToolChoice, Factory]]]) -> None:
        """Tools that come and go (an MCP server's): asked for their list each time, with
        `start=True` where waiting for servers to start is fine (not on the GUI thread)."""
        self._sources.append(source)

    def choices(self, *, start: bool = False) -> list[ToolChoice]:
        found = dict(self._factories)
        for source in self._sources:
            try:
                found.update({choice.key: (choice, factory) for choice, factory in source(start=start)})
            except Exception:  # a source that fails lists nothing; the others stay
                log.exception("listing tools failed")
        return [choice for choice, _ in found.values()]

    def _factory(self, key: str) -> tuple[ToolChoice, Factory] | None:
        if key in self._factories:
            return self._factories[key]
        for source in self._sources:
            try:
                for choice, factory in source(start=True):
                    if choice.key == key:
                        return choice, factory
            except Exception:
                log.exception("listing tools failed")
        return None

    # -- per chat --------------------------------------------------------------------------------

    def toolbox(self, keys: list[str] | tuple[str, ...], conversation_id: int | None,
                **limits) -> Toolbox:
        """The live tools for these keys in this chat; unknown or unavailable ones left out."""
        tools: list[Tool] = []
        for key in keys:
            found = self._factory(key)
            if found is None or not found[0].available:
                continue
            live = self._live.get((key, conversation_id))
            if live is None:
                try:
                    live = self._live[(key, conversation_id)] = found[1](conversation_id)
                except Exception:
                    log.exception("starting the tool %s failed", key)
                    continue
            tools += live
        return Toolbox(tools, **limits)

    def close_chat(self, conversation_id: int) -> None:
        for key in [k for k in self._live if k[1] == conversation_id]:
            for tool in self._live.pop(key):
                _close(tool)

    def close(self) -> None:
        for tools in self._live.values():
            for tool in tools:
                _close(tool)
        self._live.clear()
        if self.mcp is not None:
            self.mcp.close()


def _close(tool: Tool) -> None:
    try:
        tool.close()
    except Exception:
        log.exception("closing the tool %s failed", tool.spec.name)


# -- what the person chose, kept in the settings table ------------------------------------------


def default_keys(store: Store) -> list[str]:
    saved = store.settings.get(DEFAULTS_KEY)
    return [str(k) for k in saved] if isinstance(saved, list) else list(DEFAULT_ON)


def set_default_keys(store: Store, keys: list[str]) -> None:
    store.settings.set(DEFAULTS_KEY, list(dict.fromkeys(keys)))


def chat_keys(store: Store, conversation_id: int | None) -> list[str]:
    """The tools on in this chat: its own choice, or the defaults for a chat never changed."""
    if conversation_id is None:
        return default_keys(store)
    saved = store.settings.get(f"{CHAT_PREFIX}{conversation_id}")
    return [str(k) for k in saved] if isinstance(saved, list) else default_keys(store)


def set_chat_keys(store: Store, conversation_id: int, keys: list[str]) -> None:
    store.settings.set(f"{CHAT_PREFIX}{conversation_id}", list(dict.fromkeys(keys)))


def approvals_for(store: Store, conversation_id: int | None,
                  ask: Callable | None) -> Approvals:
    """What this chat may run without asking, and how an answer to `ask` is remembered."""
    allowed = set(_strings(store.settings.get(ALWAYS_KEY)))
    if conversation_id is not None:
        allowed |= set(_strings(store.settings.get(f"{ALLOWED_PREFIX}{conversation_id}")))

    def remember(recipient: str, decision: Decision) -> None:
        key = ALWAYS_KEY if decision == "always" or conversation_id is None \
            else f"{ALLOWED_PREFIX}{conversation_id}"
        current = _strings(store.settings.get(key))
        if recipient not in current:
            store.settings.set(key, current + [recipient])
    return Approvals(ask=ask, allowed=allowed, remember=remember)


def _strings(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def search_url(store: Store) -> str | None:
    value = store.settings.get(SEARCH_URL_KEY)
    return value if isinstance(value, str) and value.strip() else None
