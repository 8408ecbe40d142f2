"""The browser's one way onto the network: GET an http(s) address within limits.

Every page the model opens and every query sent to the search backend goes through
`Fetcher.get`, which records each address it contacts (redirect hops included) so the
window can list them. Hostile servers are bounded here, not trusted: a size cap on the
decoded body (a gzip bomb or an endless chunked stream stops at the cap), a deadline for
the whole fetch (a server that drips a byte a second still ends), a fixed number of
redirects, http and https only. Addresses on this machine or the local network are refused
unless allowed, so a page cannot steer the model into a router's admin page; the search
backend the person configured may live there (`local_ok`).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from .base import ToolError

USER_AGENT = "Mozilla/5.0 (compatible; Hearth/0.1; gpt-oss browser tool)"
_REDIRECTS = {301, 302, 303, 307, 308}
_READ_CHUNK = 65536


@dataclass(frozen=True)
class FetchLimits:
    """How far one fetch may go. The defaults suit pages a person would read."""

    max_bytes: int = 5_000_000  # of decoded body; a longer page is cut, not refused
    timeout_s: float = 20.0  # the whole fetch, redirects included
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 10.0  # silence between two packets
    max_redirects: int = 5
    allow_local: bool = False  # may pages live on loopback / private / link-local addresses?


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str  # lower case, without parameters: "text/html"
    charset: str | None  # as the server declared it
    body: bytes
    truncated: bool  # the body went past max_bytes and was cut there


@dataclass
class Deadline:
    """When a call must be over, and the event that cancels it early."""

    at: float
    cancel: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def after(cls, seconds: float, cancel: threading.Event | None = None) -> Deadline:
        return cls(time.monotonic() + seconds, cancel or threading.Event())

    def left(self) -> float:
        if self.cancel.is_set():
            raise ToolError("Cancelled.")
        left = self.at - time.monotonic()
        if left <= 0:
            raise ToolError("timed out")
        return left


class Fetcher:
    """One HTTP client (connections, cookies) for one chat's browser session."""

    def __init__(self, limits: FetchLimits) -> None:
        import httpx2  # the client huggingface-hub already brings; imported when first used

        self.limits = limits
        self._httpx = httpx2
        self._client = httpx2.Client(
            follow_redirects=False,  # followed here, one hop at a time, each hop checked
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
                     "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,"
                               "application/pdf;q=0.8,*/*;q=0.5"},
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, deadline: Deadline, contacted: list[str], *,
            headers: dict[str, str] | None = None, local_ok: bool = False) -> Fetched:
        """The response to GET `url` after redirects (any status: the caller decides).
        ToolError with a short reason when it cannot be fetched within the limits."""
        for _ in range(self.limits.max_redirects + 1):
            _check_scheme(url)
            if not (local_ok or self.limits.allow_local):
                _check_public(url)
            contacted.append(url)
            left = deadline.left()
            timeout = self._httpx.Timeout(min(self.limits.read_timeout_s, left),
                                          connect=min(self.limits.connect_timeout_s, left))
            try:
                with self._client.stream("GET", url, headers=headers, timeout=timeout) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = urljoin(str(response.url), location.strip())
                        continue
                    body, truncated = self._read(response, deadline)
                    content_type, charset = _content_type(response.headers.get("content-type"))
                    return Fetched(str(response.url), response.status_code, content_type,
                                   charset, body, truncated)
            except self._httpx.TimeoutException:
                raise ToolError("timed out") from None
            except self._httpx.UnsupportedProtocol:
                raise ToolError("only http and https addresses can be opened") from None
            except self._httpx.InvalidURL as exc:
                raise ToolError(f"not a valid address ({exc})") from None
            except self._httpx.HTTPError as exc:
                raise ToolError(_network_reason(exc)) from None
        raise ToolError(f"too many redirects (more than {self.limits.max_redirects})")

    def _read(self, response, deadline: Deadline) -> tuple[bytes, bool]:
        body = bytearray()
        cap = self.limits.max_bytes
        for chunk in _decoded(response.iter_raw(),  # as it arrives: a drip must not stall
                              response.headers.get("content-encoding", "")):
            body += chunk
            if len(body) > cap:
                return bytes(body[:cap]), True
            deadline.left()  # raises once the deadline passes or the call is cancelled
        return bytes(body), False


def _decoded(chunks, encoding: str):
    """The body with its content encoding undone in bounded pieces: a small compressed
    chunk may expand a thousandfold, so no piece handed on exceeds _READ_CHUNK bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from chunks
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ToolError(f"the server sent an encoding Hearth does not read ({encoding})")
    decoder = zlib.decompressobj(47)  # 32 + 15: a gzip or a zlib header, detected
    try:
        for chunk in chunks:
            while chunk:
                yield decoder.decompress(chunk, _READ_CHUNK)
                chunk = decoder.unconsumed_tail
    except zlib.error:
        raise ToolError("the server sent a damaged compressed body") from None


def _check_scheme(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ToolError("only http and https addresses can be opened")
    if not parts.hostname:
        raise ToolError("the address names no host")


def _check_public(url: str) -> None:
    """Refuse a host that is, or resolves to, an address of this machine or the local
    network. (The client resolves again when it connects; a name that changes its answer
    in between is not caught: this guards against pages, not against the DNS.)"""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ToolError(f"could not find the server {host}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise ToolError(f"{host} is on this computer or the local network, "
                            "which the browser does not open")


def _content_type(header: str | None) -> tuple[str, str | None]:
    if not header:
        return "", None
    kind, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return kind.strip().lower(), charset


def _network_reason(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "ConnectError":
        return f"could not connect ({exc})" if str(exc) else "could not connect"
    if name == "RemoteProtocolError":
        return "the server broke the connection or the HTTP protocol"
    return f"network error ({name})"
