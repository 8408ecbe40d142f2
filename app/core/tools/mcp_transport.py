"""The wires to an MCP server, bounded: a child process over stdio, or streamable HTTP.

Why not the SDK's own `stdio_client`: it re-joins and re-splits its whole buffer for every
64 KB read, so one 10 MB line takes ~13 s (quadratic); it cannot keep the child's stderr
(only a real file); and a line it cannot parse leaves the request it answers waiting forever.
Here a line is read in linear time up to MAX_MESSAGE_BYTES, stderr goes to a bounded tail,
and an unreadable answer becomes an error answer to its request when its id can be found.
`vetted()` takes unusable tools out of `tools/list` answers before the SDK sees them (it would
refuse the whole listing for one tool whose schema is not an object schema).

All of this runs on the event loop thread of `MCPServers` (mcp_servers.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from contextlib import asynccontextmanager, suppress
from typing import Any, Callable

from app.core.tools.mcp_config import ServerConfig
from app.core.tools.mcp_tools import vet_listing

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
STDERR_KEEP = 16 * 1024
STOP_GRACE_S = 2.0  # after stdin closes, before SIGTERM; then as long again before SIGKILL
_HEAD = 64 * 1024
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')
_ID_VALUE = re.compile(rb'\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')
_TAIL_ID = re.compile(rb'"id"\s*:\s*(-?\d+|"[^"\\]*")\s*\}\s*$')


class StartFailure(Exception):
    """A server could not be started; the message is the one-line reason."""


class ServerOutput:
    """What a server said besides its answers (stderr, our own notes), kept to a bounded tail,
    and how its process ended. Written on the loop thread; `tail()` is read anywhere."""

    def __init__(self, on_closed: Callable[[], None] | None = None) -> None:
        self._buffer = bytearray()
        self.returncode: int | None = None
        self.exited_by_itself = False  # before we asked it to stop: a crash, or a quit
        self.ended = False  # its stdout closed
        self.closed_reason = ""  # set when the transport closed on its own
        self.on_closed = on_closed

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > 2 * STDERR_KEEP:
            del self._buffer[:-STDERR_KEEP]

    def note(self, text: str) -> None:
        self.feed(f"[hearth] {text}\n".encode())

    def tail(self, lines: int = 20, chars: int = 2000) -> str:
        text = bytes(self._buffer[-STDERR_KEEP:]).decode("utf-8", "replace")
        text = "\n".join(text.rstrip().splitlines()[-lines:])
        return text[-chars:]

    def closed(self, reason: str = "") -> None:
        self.ended = True
        if reason and not self.closed_reason:
            self.closed_reason = reason
        if self.on_closed is not None:
            self.on_closed()


def resolve_command(server: ServerConfig, env: dict) -> str:
    """The program to run, found the way a shell would (on the server's PATH)."""
    command = os.path.expanduser(server.command)
    if os.sep in command or (os.altsep and os.altsep in command):
        base = server.cwd or os.getcwd()
        path = os.path.join(base, command)
        if not os.path.exists(path):
            raise StartFailure(f"command not found: {server.command}")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise StartFailure(f"not a program that can be run: {server.command}")
        return path
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise StartFailure(f"command not found: {server.command}")
    return found


@asynccontextmanager
async def stdio_transport(server: ServerConfig, output: ServerOutput):
    import anyio
    from mcp.client.stdio import get_default_environment

    # The SDK's safe set (HOME, PATH, USER…), not all of Hearth's environment, plus the config's.
    env = get_default_environment() | dict(server.env)
    if server.cwd and not os.path.isdir(server.cwd):
        raise StartFailure(f"working folder not found: {server.cwd}")
    program = resolve_command(server, env)
    try:
        process = await anyio.open_process([program, *server.args], env=env,
                                           cwd=server.cwd or None, start_new_session=True)
    except FileNotFoundError:
        raise StartFailure(f"command not found: {server.command}") from None
    except OSError as e:
        raise StartFailure(f"could not start {server.command}: {e.strerror or e}") from None
    read_send, read_recv = anyio.create_memory_object_stream(0)
    write_send, write_recv = anyio.create_memory_object_stream(0)
    gone = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)

    async def read_stdout() -> None:
        buffer, head, tail, skipping = bytearray(), b"", b"", False
        reason = ""
        try:
            async with read_send:
                async for chunk in process.stdout:
                    start = 0
                    while (end := chunk.find(b"\n", start)) >= 0:
                        piece, start = chunk[start:end], end + 1
                        if skipping:
                            skipping = False
                            message = _over_long(head, (tail + piece)[-256:], output)
                        else:
                            buffer += piece
                            message = _decode(bytes(buffer), output)
                            buffer.clear()
                        if message is not None:
                            await read_send.send(message)
                    rest = chunk[start:]
                    if skipping:
                        tail = (tail + rest)[-256:]
                    else:
                        buffer += rest
                        if len(buffer) > MAX_MESSAGE_BYTES:
                            head, tail, skipping = bytes(buffer[:_HEAD]), bytes(buffer[-256:]), True
                            buffer = bytearray()
        except gone:
            pass
        except OSError as e:
            reason = f"its output could not be read: {e}"
        finally:
            output.closed(reason)

    async def read_stderr() -> None:
        with suppress(*gone, OSError):
            async for chunk in process.stderr:
                output.feed(chunk)

    async def write_stdin() -> None:
        try:
            async with write_recv:
                async for message in write_recv:
                    data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode() + b"\n")
        except (*gone, OSError):
            await read_send.aclose()  # it stopped reading: let waiting requests end now

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_stdout)
        tasks.start_soon(read_stderr)
        tasks.start_soon(write_stdin)
        try:
            yield read_recv, write_send
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled caller must not leave a child
                await _stop(process, output)
            tasks.cancel_scope.cancel()


async def _stop(process: Any, output: ServerOutput) -> None:
    """Close stdin (a well-behaved server exits), then SIGTERM, then SIGKILL its whole group."""
    import anyio

    async def exited(within: float) -> bool:
        with anyio.move_on_after(within):
            while process.returncode is None:
                await anyio.sleep(0.02)
        return process.returncode is not None

    if output.ended:  # its stdout closed first: it is exiting, or gone already
        await exited(1.0)
    output.exited_by_itself = process.returncode is not None
    with suppress(Exception):
        await process.stdin.aclose()
    await exited(STOP_GRACE_S)
    if sys.platform == "win32":  # pragma: no cover - no process groups; the child itself
        with suppress(OSError):
            process.kill()
    else:
        from mcp.os.posix.utilities import terminate_posix_process_tree

        # Also when the leader is gone: what it started may still be in its group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, 0)
            await terminate_posix_process_tree(process, STOP_GRACE_S)
    await exited(STOP_GRACE_S)
    output.returncode = process.returncode
    with anyio.move_on_after(STOP_GRACE_S), suppress(Exception):
        await process.aclose()


def _decode(line: bytes, output: ServerOutput):
    """One stdout line as a SessionMessage; None for a line to skip (noted in the tail)."""
    from mcp_types import jsonrpc_message_adapter
    from pydantic import ValidationError

    line = line.strip()
    if not line:
        return None
    if not line.startswith(b"{"):
        output.note(f"skipped a line on stdout that is not JSON-RPC: {_short(line)}")
        return None
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        ident = _top_level_id(line)
        output.note("sent a message that could not be read (not JSON, or nested too deeply)")
        return _error(ident, "The server's answer could not be read (it is not valid JSON, "
                      "or is nested too deeply).") if ident is not None else None
    try:
        from mcp.shared.message import SessionMessage

        return SessionMessage(jsonrpc_message_adapter.validate_python(data, by_name=False))
    except ValidationError as e:
        ident = data.get("id") if isinstance(data, dict) else None
        output.note(f"sent a message that is not valid JSON-RPC: {_short(line)}")
        if isinstance(ident, (int, str)) and ("result" in data or "error" in data):
            return _error(ident, f"The server's answer is not valid MCP: {e.errors()[0]['msg']}")
        return None


def _over_long(head: bytes, tail: bytes, output: ServerOutput):
    limit = MAX_MESSAGE_BYTES // (1024 * 1024)
    output.note(f"sent a message larger than {limit} MB; it was dropped")
    ident = _top_level_id(head)
    if ident is None and (match := _TAIL_ID.search(tail)):
        ident = json.loads(match.group(1))
    return _error(ident, f"The server's answer was larger than {limit} MB and was dropped."
                  ) if ident is not None else None


def _top_level_id(text: bytes) -> Any:
    """The "id" member of the outermost object, found without parsing (the text may be cut
    short, or nested beyond what a parser accepts)."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and token == b'"id"' and (value := _ID_VALUE.match(text, match.end())):
            with suppress(ValueError):
                return json.loads(value.group(1))
    return None


def _error(ident: Any, message: str):
    from mcp.shared.message import SessionMessage
    from mcp_types import INTERNAL_ERROR, ErrorData, JSONRPCError

    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=ident,
                                       error=ErrorData(code=INTERNAL_ERROR, message=message)))


def _short(line: bytes) -> str:
    text = line[:120].decode("utf-8", "replace")
    return text + ("…" if len(line) > 120 else "")


@asynccontextmanager
async def http_transport(server: ServerConfig, output: ServerOutput):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    # trust_env off: no proxy transports beside our capped one, and no ~/.netrc credentials
    # sent to a server the person only named by address.
    client = httpx2.AsyncClient(headers=dict(server.headers), trust_env=False,
                                timeout=httpx2.Timeout(30.0, read=300.0),
                                transport=_capped_transport(httpx2))
    async with client:
        async with streamable_http_client(server.url, http_client=client,
                                          max_sse_event_size=MAX_MESSAGE_BYTES) as streams:
            yield streams


def _capped_transport(httpx2: Any) -> Any:
    """An HTTP transport that refuses a plain (non-SSE) answer over MAX_MESSAGE_BYTES; the SDK
    bounds each SSE event itself, and an SSE stream may rightly run for hours."""

    class CappedStream(httpx2.AsyncByteStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def __aiter__(self):
            seen = 0
            async for chunk in self._inner:
                seen += len(chunk)
                if seen > MAX_MESSAGE_BYTES:
                    raise httpx2.ReadError(f"the server's answer is larger than "
                                           f"{MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class CappedTransport(httpx2.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx2.AsyncHTTPTransport(trust_env=False)

        async def handle_async_request(self, request: Any) -> Any:
            response = await self._inner.handle_async_request(request)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return response
            return httpx2.Response(status_code=response.status_code, headers=response.headers,
                                   stream=CappedStream(response.stream),
                                   extensions=response.extensions, request=request)

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedTransport()


@asynccontextmanager
async def vetted(transport: Any, refused: list):
    """`transport` with unusable tools taken out of every `tools/list` answer; (tool, reason)
    for each one taken out is appended to `refused`."""
    import anyio
    from mcp_types import JSONRPCRequest, JSONRPCResponse

    gone = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)
    async with transport as (read, write):
        listings: set = set()
        kept = 0
        in_send, in_recv = anyio.create_memory_object_stream(0)
        out_send, out_recv = anyio.create_memory_object_stream(0)

        async def inbound() -> None:
            nonlocal kept
            with suppress(*gone):
                async with in_send:
                    async for item in read:
                        message = getattr(item, "message", None)
                        if isinstance(message, JSONRPCResponse) and message.id in listings:
                            listings.discard(message.id)
                            message.result, out = vet_listing(message.result, kept)
                            kept += len(message.result.get("tools", []))
                            refused.extend(out)
                        await in_send.send(item)

        async def outbound() -> None:
            with suppress(*gone):
                async with out_recv:
                    async for item in out_recv:
                        message = item.message
                        if isinstance(message, JSONRPCRequest) and message.method == "tools/list":
                            listings.add(message.id)
                        await write.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(inbound)
            tasks.start_soon(outbound)
            try:
                yield in_recv, out_send
            finally:
                tasks.cancel_scope.cancel()


def stop_signal_name(returncode: int | None) -> str:
    """'exit code 3' or 'killed by SIGKILL', for messages."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        with suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"
