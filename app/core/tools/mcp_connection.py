"""One MCP server's connection, on the event loop thread of `MCPServers` (mcp_servers.py):
start it, hold it open while it runs, call its tools, stop it, and say how it stands.

A connection lives in one asyncio task (`_lifetime`): the SDK's `Client` must be entered and
left in the same task. Calls come from other tasks on the same loop and use its session.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Literal

from app.core.tools.base import ToolError, ToolOutput
from app.core.tools.mcp_config import ServerConfig
from app.core.tools.mcp_tools import RemoteTool, remote_tool, result_text
from app.core.tools.mcp_transport import (ServerOutput, StartFailure, http_transport,
                                          stdio_transport, stop_signal_name, vetted)

log = logging.getLogger(__name__)

State = Literal["stopped", "starting", "ready", "failed"]
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

    @classmethod
    def initial(cls, config: ServerConfig) -> ServerStatus:
        return cls(name=config.name, state="stopped", transport=config.transport,
                   reaches_network=config.reaches_network, disabled=config.disabled,
                   reason="disabled" if config.disabled else "")


class Connection:
    def __init__(self, config: ServerConfig, publish: Callable[[Connection], None],
                 start_timeout_s: float) -> None:
        self.config = config
        self.status = ServerStatus.initial(config)
        self._publish = publish  # hands each new status to MCPServers
        self._start_timeout_s = start_timeout_s
        self._client: Any = None
        self._task: asyncio.Task | None = None
        self._attempt: asyncio.Future | None = None  # done once a start succeeded or failed
        self._scope: Any = None  # the lifetime's anyio CancelScope
        self._wake: asyncio.Event | None = None
        self._stop_requested = False
        self._failure = ""  # set by a call that saw the connection die
        # "legacy": `initialize` first, as Claude Desktop and LM Studio do. The SDK's default,
        # "auto", first sends `server/discover`, which a server ignoring unknown methods
        # (many hand-written ones) leaves unanswered for 10 s. A server speaking only the
        # 2026 protocol refuses `initialize` with -32022; then "auto" it is.
        self._mode = "legacy"

    def _set(self, **changes: Any) -> None:
        self.status = replace(self.status, **changes)
        self._publish(self)

    async def start(self) -> None:
        """Start unless running or disabled; return once ready or failed."""
        if self.config.disabled or self.status.state == "ready":
            return
        if self._attempt is None or self._attempt.done():
            self._attempt = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._lifetime(self._attempt))
        await asyncio.shield(self._attempt)

    async def stop(self) -> None:
        if self._task is None or self._task.done():
            return
        self._stop_requested = True
        if self.status.state == "starting" and self._scope is not None:
            self._scope.cancel()
        if self._wake is not None:
            self._wake.set()
        await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)

    async def _lifetime(self, attempt: asyncio.Future) -> None:
        import anyio
        from mcp import Client
        from mcp_types import Implementation

        self._stop_requested, self._failure, refused = False, "", []
        self._wake = wake = asyncio.Event()
        output = ServerOutput(on_closed=wake.set)
        self._set(state="starting", reason="", refused=(), stderr_tail="")
        ready, again, reason, tools = False, False, "", self.status.tools
        opened = http_transport if self.config.url else stdio_transport

        async def on_log(params: Any) -> None:
            output.feed(f"[{params.level}] {str(params.data)[:1000]}\n".encode())

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):
                output.note(f"connection: {message}")

        scope = self._scope = anyio.CancelScope(
            deadline=anyio.current_time() + self._start_timeout_s)
        try:
            with scope:
                async with Client(vetted(opened(self.config, output), refused), mode=self._mode,
                                  cache=None, logging_callback=on_log, message_handler=on_message,
                                  client_info=Implementation(name="Hearth", version="0.1")
                                  ) as client:
                    tools = await _list_tools(client)
                    scope.deadline = math.inf
                    self._client, ready = client, True
                    self._set(state="ready", tools=tools, refused=tuple(refused),
                              stderr_tail=output.tail())
                    attempt.set_result(None)
                    await wake.wait()
                    self._client = None
                    reason = self._failure or output.closed_reason or "stopped unexpectedly"
        except Exception as e:  # noqa: BLE001 - whatever the server did, it is a status
            reason = self._failure or _failure_reason(e, ready)
            log.debug("MCP server %s failed", self.config.name, exc_info=True)
            # -32022, UNSUPPORTED_PROTOCOL_VERSION: a server of the 2026 protocol only.
            again = (self._mode == "legacy" and not ready and not self._stop_requested
                     and any(getattr(leaf, "code", None) == -32022 for leaf in _all_leaves(e)))
        finally:
            self._client = self._scope = None
            if again:
                self._mode = "auto"
            elif self._stop_requested:
                self._set(state="stopped", tools=(), reason="", stderr_tail=output.tail())
            else:
                if scope.cancel_called and not ready:
                    reason = f"did not finish starting within {self._start_timeout_s:g} s"
                if output.exited_by_itself:
                    reason = f"{reason} ({stop_signal_name(output.returncode)})"
                self._set(state="failed", tools=tools if ready else (), reason=reason[:300],
                          stderr_tail=output.tail())
            if not again and not attempt.done():
                attempt.set_result(None)
        if again:  # under the same attempt: whoever waits for the start keeps waiting
            self._task = asyncio.ensure_future(self._lifetime(attempt))

    async def call(self, tool: str, arguments: dict) -> ToolOutput:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED
        from pydantic import ValidationError

        name = self.config.name
        if self.status.state != "ready":
            await self.start()  # a failed server is started again by its next use
        client = self._client
        if client is None:
            raise ToolError(f"The MCP server {name!r} is not running: "
                            f"{self.status.reason or self.status.state}.{_tail(self.status)}")
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as e:
            if e.code != CONNECTION_CLOSED:
                raise ToolError(f"The MCP server {name!r} answered with an error: "
                                f"{e.error.message[:500]}") from None
            # A child's exit code says more; an HTTP server only closed the connection.
            self._failure = "the connection closed" if self.config.url else ""
        except (ValidationError, RuntimeError) as e:
            first = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            raise ToolError(f"The answer of MCP server {name!r} was not understood: {first}"
                            ) from None
        except Exception as e:  # noqa: BLE001 - the connection broke (HTTP errors and such)
            self._failure = _failure_reason(e, ready=True)
        else:
            text, is_error = result_text(result)
            if is_error:
                raise ToolError(text or f"{tool} failed without saying why.")
            return ToolOutput(text=text)
        # The server (or the connection to it) is gone: let its lifetime end, then say why.
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
        raise ToolError(f"The MCP server {name!r} failed during the call: "
                        f"{self.status.reason or self._failure}.{_tail(self.status)}")


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


def _tail(status: ServerStatus) -> str:
    return f"\nIts last output:\n{status.stderr_tail}" if status.stderr_tail else ""


def _failure_reason(error: BaseException, ready: bool) -> str:
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
