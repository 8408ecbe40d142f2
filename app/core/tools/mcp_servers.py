"""MCP servers' tools for the model: start servers on demand, keep their status, call them.

One `MCPServers` per process. It runs one asyncio event loop on a thread of its own; every
public method may be called from any other thread (the window's GUI thread, the engine's
thread, a tool-loop worker) and hops onto that loop. Methods that return a Future never
block; `wait_started`, `tools(start=True)`, `describe`, `call` (through `MCPTool.run`) and
`close` block, each for a bounded time, so never call them from the GUI thread, nor from the
status callback (which runs on the loop's thread; it must only hand the status on).

Each server has a status: stopped → starting → ready (with its tools) or failed (one-line
reason, and the tail of its stderr). A server that dies goes to failed and is started again
by the next call to one of its tools. Servers come from mcp_config.py; one server's
connection is mcp_connection.py; the wires (and their bounds) are mcp_transport.py; vetting,
naming and result text are mcp_tools.py.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
import time
import weakref
from typing import Any, Callable, Iterable

from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from app.core.tools.mcp_config import MCPConfig
from app.core.tools.mcp_connection import STOP_TIMEOUT_S, Connection, ServerStatus
from app.core.tools.mcp_tools import RemoteTool, model_names

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
__all__ = ["MCPServers", "MCPTool", "ServerStatus", "describe"]


class MCPTool:
    """One server tool as a `base.Tool`. Closing it frees nothing: MCPServers owns servers."""

    def __init__(self, servers: MCPServers, server: str, remote: RemoteTool, spec: ToolSpec):
        self.spec, self.server, self.remote, self._servers = spec, server, remote, servers

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        return self._servers.call(self.server, self.remote.name, arguments, context)

    def close(self) -> None:
        pass


class MCPServers:
    def __init__(self, config: MCPConfig = MCPConfig(), *,
                 on_status: Callable[[ServerStatus], None] | None = None,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self._on_status = on_status
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._servers = {s.name: self._connection(s) for s in config.servers}
        self._statuses = {name: srv.status for name, srv in self._servers.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # ---- any thread, never blocking ----

    def statuses(self) -> dict[str, ServerStatus]:
        with self._lock:
            return dict(self._statuses)

    def configure(self, config: MCPConfig) -> concurrent.futures.Future:
        """Take a new configuration: removed and changed servers are stopped; nothing starts."""
        return self._submit(self._configure(config))

    def start(self, names: Iterable[str] | None = None) -> concurrent.futures.Future:
        """Start these servers (default: all enabled), failed ones included."""
        return self._submit(self._start_many(names, retry_failed=True))

    def stop(self, name: str) -> concurrent.futures.Future:
        return self._submit(self._on(name, Connection.stop))

    def restart(self, name: str) -> concurrent.futures.Future:
        async def restart(connection: Connection) -> None:
            await connection.stop()
            await connection.start()
        return self._submit(self._on(name, restart))

    # ---- any thread but the GUI's and the loop's: these block, for a bounded time ----

    def wait_started(self, names: Iterable[str] | None = None,
                     timeout_s: float | None = None) -> dict[str, ServerStatus]:
        """Start the servers never started yet (not failed ones) and wait until each is
        ready or failed."""
        future = self._submit(self._start_many(names, retry_failed=False))
        try:
            future.result(timeout=timeout_s or self._start_timeout_s + STOP_TIMEOUT_S + 5)
        except concurrent.futures.TimeoutError:
            pass
        return self.statuses()

    def tools(self, names: Iterable[str] | None = None, *, reserved: Iterable[str] = (),
              start: bool = True) -> list[MCPTool]:
        """The tools to offer the model, from servers that are ready (or crashed after being
        ready: a call restarts them). `reserved`: names already taken (the built-in tools').
        With `start`, servers never started are started first and waited for."""
        wanted = None if names is None else set(names)
        if start:
            self.wait_started(wanted)
        statuses = [s for s in self.statuses().values()
                    if (wanted is None or s.name in wanted) and s.state in ("ready", "failed")]
        naming = model_names(((s.name, t.name) for s in statuses for t in s.tools), reserved)
        return [MCPTool(self, s.name, t, ToolSpec(
                    name=naming[(s.name, t.name)], description=t.description,
                    parameters=t.parameters, approval="ask", source=f"MCP: {s.name}",
                    reaches_network=s.reaches_network, title=t.title))
                for s in statuses for t in s.tools]

    def call(self, server: str, tool: str, arguments: Any, context: ToolContext) -> ToolOutput:
        """Call `tool` on `server` (its own name for the tool); ToolError for any failure.
        Returns within context.timeout_s, or soon after context.cancel is set."""
        if not isinstance(arguments, dict):
            raise ToolError("The arguments of an MCP tool must be a JSON object.")
        future = self._submit(self._call(server, tool, arguments), error=ToolError)
        deadline = time.monotonic() + context.timeout_s
        while True:
            if context.cancel.is_set():
                future.cancel()
                raise ToolError("The call was stopped.")
            left = deadline - time.monotonic()
            if left <= 0:
                future.cancel()
                raise ToolError(f"The MCP server {server!r} did not answer within "
                                f"{context.timeout_s:g} s.")
            try:
                return future.result(timeout=min(0.05, left))
            except concurrent.futures.TimeoutError:
                continue
            except concurrent.futures.CancelledError:
                raise ToolError("The call was stopped.") from None

    def close(self) -> None:
        """Stop every server (no process left behind) and the loop's thread. Idempotent."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("MCPServers.close() must not be called from its own thread.")
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
        try:
            future.result(timeout=STOP_TIMEOUT_S + 5)
        except Exception:  # noqa: BLE001 - closing must go on; the bug is logged
            log.exception("stopping the MCP servers")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    # ---- the loop thread ----

    def _submit(self, coroutine: Any, error: type[Exception] = RuntimeError
                ) -> concurrent.futures.Future:
        with self._lock:
            if self._closed:
                coroutine.close()
                raise error("The MCP servers have been shut down.")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever,
                                                name="mcp-servers", daemon=True)
                self._thread.start()
                # A process leaving without close(): the loop's (daemon) thread still runs
                # when exit handlers do, so servers that ignore a closed stdin are stopped too.
                atexit.register(_close_at_exit, weakref.ref(self))
            loop = self._loop
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("MCPServers methods must not be called from its own thread "
                               "(the status callback): hand the status to another thread.")
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def _connection(self, config) -> Connection:
        return Connection(config, self._publish, self._start_timeout_s)

    def _publish(self, connection: Connection) -> None:
        """A connection's new status: kept for statuses(), and passed to the callback."""
        with self._lock:
            if self._servers.get(connection.config.name) is connection:
                self._statuses[connection.config.name] = connection.status
        if self._on_status is not None:
            try:
                self._on_status(connection.status)
            except Exception:  # noqa: BLE001 - a caller's bug must not stop the servers
                log.exception("MCP status callback")

    async def _on(self, name: str, action: Callable[[Connection], Any]) -> None:
        connection = self._servers.get(name)
        if connection is not None:
            await action(connection)

    async def _configure(self, config: MCPConfig) -> None:
        wanted = {s.name: s for s in config.servers}
        for name, connection in list(self._servers.items()):
            if wanted.get(name) != connection.config:
                await connection.stop()
                with self._lock:
                    del self._servers[name]
                    del self._statuses[name]
        for server in config.servers:
            if server.name not in self._servers:
                connection = self._connection(server)
                with self._lock:
                    self._servers[server.name] = connection
                self._publish(connection)
        with self._lock:  # keep the configuration's order
            self._statuses = {n: self._statuses[n] for n in wanted}
            self._servers = {n: self._servers[n] for n in wanted}

    async def _start_many(self, names: Iterable[str] | None, retry_failed: bool) -> None:
        chosen = [c for name, c in self._servers.items() if names is None or name in names]
        await asyncio.gather(*(c.start() for c in chosen
                               if c.status.state in ("stopped", "starting")
                               or (retry_failed and c.status.state == "failed")))

    async def _call(self, name: str, tool: str, arguments: dict) -> ToolOutput:
        connection = self._servers.get(name)
        if connection is None:
            raise ToolError(f"There is no MCP server named {name!r}.")
        return await connection.call(tool, arguments)

    async def _close_all(self) -> None:
        await asyncio.gather(*(c.stop() for c in list(self._servers.values())))
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # calls still waiting
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=2)


def describe(servers: MCPServers, *, reserved: Iterable[str] = (), start: bool = True
             ) -> list[dict]:
    """For `hearth tools list`: each configured server with its status and the tools the
    model would be offered (the exact name it calls, and the schema)."""
    tools = servers.tools(reserved=reserved, start=start)
    described = []
    for status in servers.statuses().values():
        described.append({
            "server": status.name, "transport": status.transport, "status": status.state,
            "reason": status.reason, "stderr_tail": status.stderr_tail,
            "disabled": status.disabled, "reaches_network": status.reaches_network,
            "tools": [{"name": t.spec.name, "remote_name": t.remote.name, "title": t.spec.title,
                       "description": t.spec.description, "parameters": t.spec.parameters,
                       "source": t.spec.source, "approval": t.spec.approval,
                       "reaches_network": t.spec.reaches_network}
                      for t in tools if t.server == status.name],
            "refused": [{"tool": tool, "reason": why} for tool, why in status.refused],
        })
    return described


def _close_at_exit(servers: weakref.ref) -> None:
    if (alive := servers()) is not None:
        alive.close()
