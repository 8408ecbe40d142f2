"""MCP servers' tools for the model: start servers on demand, keep their status, call them.

One `MCPServers` per process. It runs one asyncio event loop on a thread of its own; every
public method may be called from any other thread (the window's GUI thread, the engine's
thread, a tool-loop worker) and hops onto that loop. Methods that return a Future never
block; `wait_started`, `tools(start=True)`, `call` (through `MCPTool.run`) and `close`
block, each for a bounded time, so never call them from the GUI thread, nor from the status
callback (which runs on the loop's thread; it must only hand the status on).

Each server has a status: stopped → starting → ready (with its tools) or failed (one-line
reason, and the tail of its stderr). A server that dies goes to failed and is started again
by the next call to one of its tools. Servers come from mcp_config.py; the wires (and their
bounds) are in mcp_transport.py; vetting, naming and result text in mcp_tools.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Literal

from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from app.core.tools.mcp_config import MCPConfig, ServerConfig
from app.core.tools.mcp_tools import RemoteTool, model_names, remote_tool, result_text
from app.core.tools.mcp_transport import (ServerOutput, StartFailure, http_transport,
                                          stdio_transport, stop_signal_name, vetted)

log = logging.getLogger(__name__)

State = Literal["stopped", "starting", "ready", "failed"]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0  # the transport's own steps are bounded at ~8 s
MAX_LISTING_PAGES = 20


@dataclass(frozen=True)
class ServerStatus:
    name: str
    state: State
    transport: str  # "stdio" or "http"
    reaches_network: bool
    tools: tuple[RemoteTool, ...] = ()  # kept after a crash, so a call can restart it
    refused: tuple[tuple[str, str], ...] = ()  # (tool, why it is not offered)
    reason: str = ""  # one line: why it failed, or "disabled"
    stderr_tail: str = ""
    disabled: bool = False


class MCPTool:
    """One server tool as a `base.Tool`. Closing it frees nothing: MCPServers owns servers."""

    def __init__(self, servers: MCPServers, server: str, remote: RemoteTool, spec: ToolSpec):
        self.spec, self.server, self.remote, self._servers = spec, server, remote, servers

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        return self._servers.call(self.server, self.remote.name, arguments, context)

    def close(self) -> None:
        pass


class _Server:
    """A server's state on the loop thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.status = _initial_status(config)
        self.client: Any = None
        self.output = ServerOutput()
        self.task: asyncio.Task | None = None
        self.attempt: asyncio.Future | None = None  # done when a start has succeeded or failed
        self.scope: Any = None  # the lifetime's anyio CancelScope
        self.wake: asyncio.Event | None = None
        self.stop_requested = False
        self.failure = ""  # set by a call that saw the connection die


class MCPServers:
    def __init__(self, config: MCPConfig = MCPConfig(), *,
                 on_status: Callable[[ServerStatus], None] | None = None,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self._on_status = on_status
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._servers = {s.name: _Server(s) for s in config.servers}
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
        return self._submit(self._stop_server(name))

    def restart(self, name: str) -> concurrent.futures.Future:
        async def restart() -> None:
            await self._stop_server(name)
            await self._start(name)
        return self._submit(restart())

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
            loop = self._loop
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("MCPServers methods must not be called from its own thread "
                               "(the status callback): hand the status to another thread.")
        return asyncio.run_coroutine_threadsafe(coroutine, loop)

    def _set(self, srv: _Server, **changes: Any) -> None:
        srv.status = replace(srv.status, **changes)
        with self._lock:
            if self._servers.get(srv.config.name) is srv:
                self._statuses[srv.config.name] = srv.status
        if self._on_status is not None:
            try:
                self._on_status(srv.status)
            except Exception:  # noqa: BLE001 - a caller's bug must not stop the servers
                log.exception("MCP status callback")

    async def _configure(self, config: MCPConfig) -> None:
        wanted = {s.name: s for s in config.servers}
        for name, srv in list(self._servers.items()):
            if wanted.get(name) != srv.config:
                await self._stop_server(name)
                with self._lock:
                    del self._servers[name]
                    del self._statuses[name]
        for server in config.servers:
            if server.name not in self._servers:
                srv = _Server(server)
                with self._lock:
                    self._servers[server.name] = srv
                self._set(srv)
        with self._lock:  # keep the configuration's order
            self._statuses = {n: self._statuses[n] for n in wanted}
            self._servers = {n: self._servers[n] for n in wanted}

    async def _start_many(self, names: Iterable[str] | None, retry_failed: bool) -> None:
        chosen = [srv for name, srv in self._servers.items() if names is None or name in names]
        await asyncio.gather(*(self._start(srv.config.name) for srv in chosen
                               if srv.status.state in ("stopped", "starting")
                               or (retry_failed and srv.status.state == "failed")))

    async def _start(self, name: str) -> None:
        srv = self._servers.get(name)
        if srv is None or srv.config.disabled or srv.status.state == "ready":
            return
        if srv.attempt is None or srv.attempt.done():
            srv.attempt = asyncio.get_running_loop().create_future()
            srv.task = asyncio.ensure_future(self._lifetime(srv, srv.attempt))
        await asyncio.shield(srv.attempt)

    async def _lifetime(self, srv: _Server, attempt: asyncio.Future) -> None:
        """Start the server, hold its connection while it runs, and stop it."""
        import anyio
        from mcp import Client
        from mcp_types import Implementation

        srv.stop_requested, srv.failure, refused = False, "", []
        srv.wake = wake = asyncio.Event()
        srv.output = output = ServerOutput(on_closed=wake.set)
        self._set(srv, state="starting", reason="", refused=(), stderr_tail="")
        ready, reason, tools = False, "", srv.status.tools
        opened = http_transport if srv.config.url else stdio_transport

        async def on_log(params: Any) -> None:
            output.feed(f"[{params.level}] {str(params.data)[:1000]}\n".encode())

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):
                output.note(f"connection: {message}")

        scope = anyio.CancelScope(deadline=anyio.current_time() + self._start_timeout_s)
        try:
            with scope:
                srv.scope = scope
                async with Client(vetted(opened(srv.config, output), refused), mode="auto",
                                  cache=None, logging_callback=on_log, message_handler=on_message,
                                  client_info=Implementation(name="Hearth", version="0.1")
                                  ) as client:
                    tools = await _list_tools(client)
                    scope.deadline = math.inf
                    srv.client, ready = client, True
                    self._set(srv, state="ready", tools=tools, refused=tuple(refused),
                              stderr_tail=output.tail())
                    attempt.set_result(None)
                    await wake.wait()
                    srv.client = None
                    reason = srv.failure or output.closed_reason or "stopped unexpectedly"
        except Exception as e:  # noqa: BLE001 - whatever the server did, it is a status
            reason = srv.failure or _start_error(e, ready)
            log.debug("MCP server %s failed", srv.config.name, exc_info=True)
        finally:
            if scope.cancel_called and not ready and not srv.stop_requested:
                reason = f"did not finish starting within {self._start_timeout_s:g} s"
            srv.client = srv.scope = None
            if srv.stop_requested:
                self._set(srv, state="stopped", tools=(), reason="", stderr_tail=output.tail())
            else:
                if output.exited_by_itself:
                    reason = f"{reason} ({stop_signal_name(output.returncode)})"
                self._set(srv, state="failed", tools=tools if ready else (),
                          reason=reason[:300], stderr_tail=output.tail())
            if not attempt.done():
                attempt.set_result(None)

    async def _call(self, name: str, tool: str, arguments: Any) -> ToolOutput:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED
        from pydantic import ValidationError

        srv = self._servers.get(name)
        if srv is None:
            raise ToolError(f"There is no MCP server named {name!r}.")
        if srv.status.state != "ready":
            await self._start(name)
        client = srv.client
        if client is None:
            raise ToolError(f"The MCP server {name!r} is not running: "
                            f"{srv.status.reason or srv.status.state}.{_tail(srv.status)}")
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as e:
            if e.code != CONNECTION_CLOSED:
                raise ToolError(f"The MCP server {name!r} answered with an error: "
                                f"{e.error.message[:500]}") from None
            # A child's exit code says more; an HTTP server only closed the connection.
            srv.failure = "the connection closed" if srv.config.url else ""
        except (ValidationError, RuntimeError) as e:
            first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            raise ToolError(f"The answer of MCP server {name!r} was not understood: {first}"
                            ) from None
        except Exception as e:  # noqa: BLE001 - the connection broke (HTTP errors and such)
            srv.failure = _start_error(e, ready=True)
        else:
            text, is_error = result_text(result)
            if is_error:
                raise ToolError(text or f"{tool} failed without saying why.")
            return ToolOutput(text=text)
        # The server (or the connection to it) is gone: let its lifetime end, then say why.
        srv.wake.set()
        if srv.task is not None:
            await asyncio.wait({srv.task}, timeout=STOP_TIMEOUT_S)
        raise ToolError(f"The MCP server {name!r} failed during the call: "
                        f"{srv.status.reason or srv.failure}."
                        f"{_tail(srv.status)}")

    async def _stop_server(self, name: str) -> None:
        srv = self._servers.get(name)
        if srv is None or srv.task is None or srv.task.done():
            return
        srv.stop_requested = True
        if srv.status.state == "starting" and srv.scope is not None:
            srv.scope.cancel()
        if srv.wake is not None:
            srv.wake.set()
        await asyncio.wait({srv.task}, timeout=STOP_TIMEOUT_S)

    async def _close_all(self) -> None:
        await asyncio.gather(*(self._stop_server(name) for name in list(self._servers)))
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # calls still waiting
            task.cancel()
        if others:
            await asyncio.wait(others, timeout=2)


async def _list_tools(client: Any) -> tuple[RemoteTool, ...]:
    if client.server_capabilities.tools is None:
        return ()
    tools, cursor = [], None
    for _ in range(MAX_LISTING_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(remote_tool(t) for t in tools)


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


def _initial_status(config: ServerConfig) -> ServerStatus:
    return ServerStatus(name=config.name, state="stopped", transport=config.transport,
                        reaches_network=config.reaches_network, disabled=config.disabled,
                        reason="disabled" if config.disabled else "")


def _tail(status: ServerStatus) -> str:
    return f"\nIts last output:\n{status.stderr_tail}" if status.stderr_tail else ""


def _start_error(error: BaseException, ready: bool) -> str:
    """One line for a failure escaping the lifetime (task groups wrap it in groups)."""
    leaves = [e for e in _all_leaves(error) if not isinstance(e, asyncio.CancelledError)]
    for leaf in leaves:
        if isinstance(leaf, StartFailure):
            return str(leaf)
    leaf = leaves[0] if leaves else error
    if type(leaf).__name__ == "MCPError":
        if getattr(leaf, "code", None) == -32000:  # CONNECTION_CLOSED
            return "stopped unexpectedly" if ready else "exited while starting"
        text = leaf.error.message
    else:
        text = f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
    text = text.splitlines()[0][:200].rstrip(".") if text else "no reason given"
    if ready:
        return f"the connection failed: {text}"
    if type(leaf).__name__ in ("ConnectError", "ConnectTimeout"):
        return f"could not connect: {text}"
    return f"could not start: {text}"


def _all_leaves(error: BaseException) -> list[BaseException]:
    inner = getattr(error, "exceptions", None)  # an (anyio task group's) exception group
    if isinstance(inner, (list, tuple)):
        return [leaf for e in inner for leaf in _all_leaves(e)]
    return [error]
