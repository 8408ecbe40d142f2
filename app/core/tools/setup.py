"""The optional tools a registry offers besides the always-there ones: gpt-oss's python and
browser, and the tools of the person's MCP servers. Kept apart from registry.py so what they
need (a sandbox, a search backend, server processes) is only touched when asked for."""

from __future__ import annotations

import logging

from app.core.tools.registry import ToolChoice, ToolRegistry

log = logging.getLogger(__name__)


def add_optional_tools(registry: ToolRegistry, *, mcp_file: str | None = None,
                       search_url: str | None = None) -> None:
    """python always (it asks before each run); the browser when a search backend is set;
    MCP servers from `mcp_file` or the data folder's mcp.json."""
    for add in (_add_python, lambda r: _add_browser(r, search_url), lambda r: _add_mcp(r, mcp_file)):
        try:
            add(registry)
        except ImportError as exc:  # a part not installed in this build: the rest still work
            log.info("optional tool not available: %s", exc)


def _add_python(registry: ToolRegistry) -> None:
    from app.core.tools.python_tool import PythonTool

    spec = PythonTool.spec
    registry.add(ToolChoice("python", "Python", "Runs Python code the model writes, in a "
                            "separate process with limits (each run asks first).", spec.source,
                            (spec,), True, False),
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


def _add_mcp(registry: ToolRegistry, mcp_file: str | None) -> None:
    from app.core.tools import mcp_servers  # noqa: F401  (lands with the MCP client)

    raise ImportError("MCP client not wired yet")
