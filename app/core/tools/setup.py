"""The optional tools a registry offers besides the always-there ones: gpt-oss's python and
browser, and the tools of the person's MCP servers. Kept apart from registry.py so what they
need (a sandbox, a search backend, server processes) is only touched when asked for."""

from __future__ import annotations

import logging
from pathlib import Path

from app.core.tools.registry import ToolChoice, ToolRegistry

log = logging.getLogger(__name__)


def add_optional_tools(registry: ToolRegistry, *, mcp_file: str | None = None,
                       search_url: str | None = None, on_mcp_status=None) -> None:
    """python always (it asks before each run); the browser when a search backend is set;
    MCP servers from `mcp_file` or the data folder's mcp.json."""
    for add in (_add_python, lambda r: _add_browser(r, search_url), lambda r: _add_mcp(r, mcp_file, on_mcp_status)):
        try:
            add(registry)
        except ImportError as exc:  # a part not installed in this build: the rest still work
            log.info("optional tool not available: %s", exc)


def _add_python(registry: ToolRegistry) -> None:
    from app.core.tools.python_tool import PythonTool

    from common.bundle import frozen

    spec = PythonTool.spec
    # The packaged app carries no Python interpreter of its own for the worker to run on.
    why = "the packaged app has no Python for it; run Hearth from source (make run)" \
        if frozen() else ""
    registry.add(ToolChoice("python", "Python", "Runs Python code the model writes, in a "
                            "separate process with limits (each run asks first).", spec.source,
                            (spec,), True, False, available=not why, why_unavailable=why),
                 lambda _conversation_id: [PythonTool()])  # one worker per chat: its state


def _add_browser(registry: ToolRegistry, search_url: str | None) -> None:
    """The one tool that reaches the network: listed always, available once the person has
    named a search backend (a SearXNG address), and off until they turn it on."""
    from app.core.tools.browser import BrowserSession, FetchLimits, SearxngBackend, browser_tools

    specs = tuple(t.spec for t in browser_tools(BrowserSession(None, FetchLimits())))

    def make(_conversation_id):  # one session per chat: its pages and cursors
        return list(browser_tools(BrowserSession(SearxngBackend(search_url), FetchLimits())))

    registry.add(ToolChoice(
        "browser", "Browser", "Searches the web and reads pages (gpt-oss's own browser tool). "
        "The only tool that reaches the internet.", "built-in", specs, False, True,
        available=bool(search_url),
        why_unavailable="" if search_url else "name a search service (a SearXNG address) in "
                                              "Settings → Tools, or pass --search-url"), make)


def _add_mcp(registry: ToolRegistry, mcp_file: str | None, on_status=None) -> None:
    """The person's MCP servers (mcp.json in the data folder, or `mcp_file`): started on
    demand; each tool is a choice of its own (`mcp:<server>/<tool>`), and `mcp:<server>`
    takes all of a server's tools."""
    from app.core.tools.mcp_config import config_path, load_config
    from app.core.tools.mcp_servers import MCPServers

    path = Path(mcp_file) if mcp_file else config_path(registry.data_dir)
    if mcp_file is None and not path.exists():
        return
    # A bad file: its UserError, naming the field. `on_status` runs on the servers' thread.
    servers = MCPServers(load_config(path), on_status=on_status)
    registry.mcp = servers
    reserved = tuple(spec.name for c in registry.choices() for spec in c.specs)

    def source(start: bool = False) -> list:
        found = []
        tools = servers.tools(reserved=reserved, start=start)
        by_server: dict[str, list] = {}
        for tool in tools:
            by_server.setdefault(tool.server, []).append(tool)
            found.append((ToolChoice(f"mcp:{tool.server}/{tool.remote.name}",
                                     tool.spec.title or tool.spec.name, tool.spec.description,
                                     tool.spec.source, (tool.spec,), True,
                                     tool.spec.reaches_network),
                          lambda _cid, t=tool: [t]))
        for server, its in by_server.items():
            found.append((ToolChoice(f"mcp:{server}", f"{server} (all its tools)",
                                     f"Every tool of the MCP server {server}.", f"MCP: {server}",
                                     tuple(t.spec for t in its), True,
                                     any(t.spec.reaches_network for t in its)),
                          lambda _cid, ts=tuple(its): list(ts)))
        return found
    registry.add_source(source)
