"""Running the API under uvicorn: in the foreground for `hearth serve`, or on a thread of its
own inside the window. The listening socket is bound here first, so a port already in use
is a plain message rather than uvicorn exiting the process."""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field

import uvicorn

from app.core.server.app import create_app
from app.core.server.backend import ApiBackend
from common.errors import UserError

DEFAULT_PORT = 8080  # llama-server's and LM Studio's neighbourhood; the settings can change it
STOP_TIMEOUT_S = 10.0


class ServerError(UserError):
    pass


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_key: str | None = field(default=None, repr=False)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def lan_warning(settings: ServerSettings) -> str | None:
    """What a person must know before other machines can reach the model."""
    if settings.loopback:
        return None
    return (f"Listening on {settings.host}: any machine that can reach this one on port "
            f"{settings.port} can use the model" + ("." if settings.api_key else
                                                    ", with no API key asked for."))


def bind(settings: ServerSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
    # and with Nagle on every keep-alive response after the first waited 40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host.strip("[]"), settings.port))
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise ServerError(f"Port {settings.port} is already in use: choose another one.") from None
        raise ServerError(f"Cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}.") from None
    sock.listen(64)
    return sock


class ApiServer:
    """The API over HTTP, on a thread of its own or in the foreground."""

    def __init__(self, backend: ApiBackend, settings: ServerSettings, app=None) -> None:
        """`app`: the ASGI app to serve instead of Hearth's API built on `backend`."""
        self.backend, self.settings = backend, settings
        self._socket = bind(settings)
        self.port = self._socket.getsockname()[1]
        app = app or create_app(backend, api_key=settings.api_key, loopback_only=settings.loopback)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}/v1"

    def serve_forever(self) -> None:
        """In the calling (main) thread, until Ctrl+C or SIGTERM."""
        self._server.run(sockets=[self._socket])

    def start(self) -> None:
        """On a thread of its own; returns once it accepts connections."""
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="hearth-api", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        self._socket.close()
        self.backend.close()
