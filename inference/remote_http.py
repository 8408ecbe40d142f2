"""Talking to an OpenAI-compatible server: JSON requests, server-sent event streams, and
every way that can fail, in words a person can act on.

Only the address the person entered is ever contacted: redirects are refused rather than
followed, and proxies or credentials from the environment are not picked up. The API key
goes in the Authorization header and nowhere else: never in a message, a log or a repr.
A hostile or broken server is bounded: a JSON body past MAX_JSON_BYTES or an event line
past MAX_LINE_BYTES is refused, and a silent one times out.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx2

from common.errors import UserError

CONNECT_TIMEOUT_S = 10.0
# Between two pieces of a stream: a big model can think over a long prompt for minutes before
# its first token, and llama-server sends nothing meanwhile.
READ_TIMEOUT_S = 300.0
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 4 * 1024 * 1024
CANCEL_POLL_S = 0.05


class RemoteError(UserError):
    """Something between Hearth and an endpoint went wrong. The message is for a person."""


class EndpointUnreachable(RemoteError):
    pass


class EndpointUnauthorized(RemoteError):
    pass


class RemoteModelNotFound(RemoteError):
    pass


class EndpointTimeout(RemoteError):
    pass


class ConnectionDropped(RemoteError):
    """The connection ended in the middle of an answer: what came before it is kept."""


class EndpointRefused(RemoteError):
    """The server answered the request with an error of its own (its message is quoted)."""

    def __init__(self, message: str, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail  # the server's own words, for callers that look for a word in them


def api_root(url: str) -> str:
    """The server's address without a trailing `/v1`: people paste either
    (`http://host:8000` or `http://host:8000/v1`, the OpenAI clients' base URL)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"{url or 'An empty address'} is not an endpoint address: write it as "
                          "http://host:port (or https://…).")
    return url[:-3] if url.endswith("/v1") else url


@dataclass
class Connection:
    """One endpoint: its address and, if it needs one, its API key."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    read_timeout_s: float = READ_TIMEOUT_S

    def __post_init__(self) -> None:
        self.root = api_root(self.url)
        self.host = urlsplit(self.root).netloc
        self._client = self._new_client()
        # Answers stream on a connection of their own each time (no keep-alive), so Stop can
        # shut that socket down even before the server's first byte.
        self._streams = self._new_client(httpx2.Limits(max_keepalive_connections=0))

    def _new_client(self, limits: httpx2.Limits | None = None) -> httpx2.Client:
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        # Nagle off: a POST's headers and body go out as two writes, and on a kept-alive
        # connection the body would wait for the server's delayed ACK of the headers.
        transport = httpx2.HTTPTransport(limits=limits or httpx2.Limits(), trust_env=False,
                                         socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        return httpx2.Client(headers=headers, follow_redirects=False, trust_env=False,
                             transport=transport,
                             timeout=httpx2.Timeout(self.read_timeout_s, connect=CONNECT_TIMEOUT_S))

    def close(self) -> None:
        self._client.close()
        self._streams.close()

    # -- requests ------------------------------------------------------------------------------

    def get_json(self, path: str) -> Any:
        return self._json("GET", path, None)

    def post_json(self, path: str, body: dict) -> Any:
        return self._json("POST", path, body)

    def _json(self, method: str, path: str, body: dict | None) -> Any:
        try:
            with self._client.stream(method, self.root + path, json=body) as response:
                self._check(response, path)
                data = _read_capped(response, MAX_JSON_BYTES)
        except httpx2.HTTPError as exc:
            raise self._translate(exc, path) from None
        try:
            return json.loads(data)
        except ValueError:
            raise RemoteError(f"{self.host} answered {path} with something that is not JSON: "
                              "is this an OpenAI-compatible server?") from None

    def stream_events(self, path: str, body: dict,
                      cancel: threading.Event | None = None) -> Iterator[dict]:
        """POST `body` and yield each server-sent event's JSON until `[DONE]` or the end.
        Setting `cancel` closes the connection (a server stops generating when its client
        goes); the iterator then just ends."""
        done = threading.Event()
        sockets: list[socket.socket] = []  # the connection this answer streams on

        def trace(event: str, info: dict) -> None:
            # The TCP socket, and for https the TLS one that takes its place.
            if event in ("connection.connect_tcp.complete", "connection.start_tls.complete") \
                    and info.get("return_value") is not None:
                sockets.append(info["return_value"].get_extra_info("socket"))
        if cancel is not None:
            _shut_on_cancel(sockets, cancel, done)
        try:
            with self._streams.stream("POST", self.root + path, json=body,
                                      headers={"Accept": "text/event-stream"},
                                      extensions={"trace": trace}) as response:
                self._check(response, path)
                for data in _sse_data(response):
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise RemoteError(f"{self.host} sent an event that is not JSON.") from None
                    if not isinstance(event, dict):
                        continue
                    if "error" in event:
                        raise EndpointRefused(f"{self.host}: {_error_text(event)}", 200,
                                              _error_text(event))
                    yield event
        except (httpx2.HTTPError, httpx2.StreamError) as exc:
            if cancel is not None and cancel.is_set():
                return  # we shut it down ourselves
            if isinstance(exc, httpx2.StreamError):
                raise ConnectionDropped(f"The connection to {self.host} ended in the middle "
                                        "of the answer; what came before is kept.") from None
            raise self._translate(exc, path, mid_stream=True) from None
        finally:
            done.set()
        # Some servers end without [DONE]: callers judge from the finish reason they saw
        # whether the answer was whole.

    # -- failures ------------------------------------------------------------------------------

    def _check(self, response: httpx2.Response, path: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if 300 <= status < 400:
            raise RemoteError(f"{self.host} redirects {path} elsewhere "
                              f"({response.headers.get('location', 'no address')}); Hearth "
                              "only talks to the address you entered: enter that one instead.")
        try:
            detail = _error_text(json.loads(_read_capped(response, 64 * 1024)))
        except (ValueError, httpx2.HTTPError, RemoteError):
            detail = ""
        if status in (401, 403):
            raise EndpointUnauthorized(
                f"{self.host} refused the API key" + (f": {detail}" if detail else "")
                + ". Check the key in Settings → Engines (or the variable --api-key-env names).")
        if status == 404 and "model" in detail.lower():
            raise RemoteModelNotFound(f"{self.host}: {detail}")
        if status == 404:
            raise EndpointRefused(f"{self.host} has no {path} endpoint (404): is the address "
                                  "right, and is it an OpenAI-compatible server?", status, detail)
        raise EndpointRefused(f"{self.host} refused the request ({status})"
                              + (f": {detail}" if detail else "."), status, detail)

    def _translate(self, exc: httpx2.HTTPError, path: str, mid_stream: bool = False) -> RemoteError:
        if isinstance(exc, httpx2.ConnectTimeout):
            return EndpointTimeout(f"{self.host} did not answer within {CONNECT_TIMEOUT_S:.0f} s "
                                   "(is the address right, and the server up?).")
        if isinstance(exc, httpx2.ConnectError):
            return EndpointUnreachable(f"Cannot reach {self.host}: {_reason(exc)}. Is the server "
                                       "running, and the address right?")
        if isinstance(exc, httpx2.TimeoutException):
            return EndpointTimeout(f"{self.host} sent nothing for {self.read_timeout_s:.0f} s; "
                                   "the request was given up.")
        if mid_stream and isinstance(exc, (httpx2.RemoteProtocolError, httpx2.ReadError,
                                           httpx2.NetworkError)):
            return ConnectionDropped(f"The connection to {self.host} dropped in the middle of "
                                     "the answer; what came before is kept.")
        if isinstance(exc, httpx2.UnsupportedProtocol):
            return RemoteError(f"{self.root} is not an http:// or https:// address.")
        return EndpointUnreachable(f"Talking to {self.host} failed: {_reason(exc)}.")


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _error_text(body: Any) -> str:
    """The message from an OpenAI-shaped error (`{"error": {"message": …}}`) or the shapes
    llama-server, Ollama and gateways use instead."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or ""
        else:
            message = error if isinstance(error, str) else body.get("detail") or body.get("message")
        if isinstance(message, str):
            return message.strip()[:500]
        if message:
            return json.dumps(message)[:500]
    return ""


def _read_capped(response: httpx2.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise RemoteError(f"The server's answer is larger than {limit // (1024 * 1024)} MB; "
                              "refused.")
        chunks.append(chunk)
    return b"".join(chunks)


def _sse_data(response: httpx2.Response) -> Iterator[str]:
    """The `data:` of each event (several data lines joined), lines bounded in length."""
    buffer = b""
    data: list[str] = []
    for chunk in response.iter_bytes():
        buffer += chunk
        while True:
            cut = buffer.find(b"\n")
            if cut < 0:
                break
            line, buffer = buffer[:cut].rstrip(b"\r"), buffer[cut + 1:]
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" ").decode("utf-8", errors="replace"))
            # `event:`, `id:`, `retry:` and `: comments` (keep-alive pings) carry nothing here
        if len(buffer) > MAX_LINE_BYTES:
            raise RemoteError(f"The server sent a line longer than "
                              f"{MAX_LINE_BYTES // (1024 * 1024)} MB in its stream; refused.")
    if data:
        yield "\n".join(data)


def _shut_on_cancel(sockets: list, cancel: threading.Event, done: threading.Event) -> None:
    """Stop = shut the answer's connection down, even while a read waits for the server's
    next byte (a server evaluating a long prompt, or busy, sends nothing for a while); the
    server sees its client go and stops generating."""
    def watch() -> None:
        while not done.wait(CANCEL_POLL_S):
            if cancel.is_set():
                for sock in sockets:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:  # already closed: nothing left to stop
                        pass
                return
    threading.Thread(target=watch, name="hearth-remote-cancel", daemon=True).start()
