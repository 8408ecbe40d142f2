"""What Settings → Local server chose: off by default; on, 127.0.0.1 and a port, a LAN
address only if asked for. Its API key lives in the system keyring, never in the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from app.core import engines
from app.core.server.runner import DEFAULT_PORT, ServerSettings
from storage import Store

SETTINGS_KEY = "local_server"
KEYRING_SERVICE = "hearth-local-server"
KEYRING_USER = "api-key"
LAN_HOST = "0.0.0.0"


@dataclass(frozen=True)
class LocalServer:
    enabled: bool = False
    port: int = DEFAULT_PORT
    lan: bool = False  # listen on every address, not only this machine's loopback
    record: bool = False  # keep other apps' conversations as chats (recording.py)

    def server_settings(self, api_key: str | None) -> ServerSettings:
        return ServerSettings(LAN_HOST if self.lan else "127.0.0.1", self.port, api_key)


def load(store: Store) -> LocalServer:
    saved = store.settings.get(SETTINGS_KEY) or {}
    if not isinstance(saved, dict):
        return LocalServer()
    port = saved.get("port")
    return LocalServer(enabled=saved.get("enabled") is True,
                       port=port if isinstance(port, int) and 1 <= port <= 65535 else DEFAULT_PORT,
                       lan=saved.get("lan") is True, record=saved.get("record") is True)


def save(store: Store, value: LocalServer) -> None:
    store.settings.set(SETTINGS_KEY, asdict(value))


def api_key() -> str | None:
    return engines.read_secret(KEYRING_SERVICE, KEYRING_USER)


def set_api_key(key: str | None) -> None:
    """KeyringUnavailable (app/core/engines.py) when there is no usable keyring."""
    engines.keep_secret(KEYRING_SERVICE, KEYRING_USER, key)
