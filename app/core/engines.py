"""Remote endpoints a person has added, and which engine a chat uses. Qt-free: the window's
Settings → Engines, the model manager and `hearth` share it.

An endpoint (its address, how to talk to it, its context size if the server does not say)
is kept in the settings table; its API key only in the system keyring (`keyring`), never in
the database or a log. A remote model is named by a reference string, `remote:URL#MODEL`,
that goes wherever a model's path goes (the default model, a chat's engine, per-model
settings).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from common.errors import UserError
from inference.remote import MODES, RemoteEngine, RemoteModel, list_models
from inference.remote_http import Connection, api_root
from storage import Store

ENDPOINTS_KEY = "remote_endpoints"
CHAT_ENGINE_PREFIX = "chat_engine:"
KEYRING_SERVICE = "hearth"
REF_PREFIX = "remote:"


class KeyringUnavailable(UserError):
    pass


@dataclass(frozen=True)
class Endpoint:
    url: str  # as api_root() writes it: no trailing slash, no /v1
    name: str = ""
    mode: str = "auto"  # auto (harmony for gpt-oss), harmony, chat
    n_ctx: int | None = None  # when the server does not say its context size
    models: tuple[str, ...] = ()  # what it served when last asked (the model manager lists these)

    @property
    def label(self) -> str:
        return self.name or self.url


def endpoints(store: Store) -> list[Endpoint]:
    saved = store.settings.get(ENDPOINTS_KEY) or []
    known = Endpoint.__dataclass_fields__
    out = []
    for e in saved:
        if isinstance(e, dict) and isinstance(e.get("url"), str):
            fields = {k: v for k, v in e.items() if k in known}
            fields["models"] = tuple(m for m in fields.get("models") or () if isinstance(m, str))
            out.append(Endpoint(**fields))
    return out


def find_endpoint(store: Store, url: str) -> Endpoint | None:
    try:
        root = api_root(url)
    except UserError:
        return None
    return next((e for e in endpoints(store) if e.url == root), None)


def save_endpoint(store: Store, endpoint: Endpoint) -> Endpoint:
    """Add or replace (by address) an endpoint; its address is checked and normalised."""
    if endpoint.mode not in ("auto", *MODES):
        raise UserError(f"The mode must be auto, harmony or chat, not {endpoint.mode!r}.")
    if endpoint.n_ctx is not None and endpoint.n_ctx < 512:
        raise UserError("The context size must be at least 512 tokens.")
    endpoint = Endpoint(api_root(endpoint.url), endpoint.name.strip(), endpoint.mode,
                        endpoint.n_ctx, tuple(endpoint.models))
    others = [asdict(e) for e in endpoints(store) if e.url != endpoint.url]
    store.settings.set(ENDPOINTS_KEY, others + [asdict(endpoint)])
    return endpoint


def delete_endpoint(store: Store, url: str) -> None:
    root = api_root(url)
    store.settings.set(ENDPOINTS_KEY, [asdict(e) for e in endpoints(store) if e.url != root])
    try:
        set_api_key(root, None)
    except KeyringUnavailable:
        pass  # nothing can have been kept there


# -- API keys, in the system keyring only ---------------------------------------------------------

def keyring_unavailable(exc: Exception) -> KeyringUnavailable:
    return KeyringUnavailable(
        f"The system keyring is not available ({type(exc).__name__}), so Hearth cannot keep "
        "an API key. Install and unlock one (GNOME Keyring, KWallet, macOS Keychain, Windows "
        "Credential Locker), or pass the key each time: hearth chat --api-key-env VARIABLE.")


def api_key(url: str) -> str | None:
    """The endpoint's key from the keyring; None when it has none (or there is no keyring)."""
    return read_secret(KEYRING_SERVICE, api_root(url))


def set_api_key(url: str, key: str | None) -> None:
    """Keep `key` for the endpoint in the keyring (None: forget it). KeyringUnavailable says
    why when there is no usable keyring."""
    keep_secret(KEYRING_SERVICE, api_root(url), key)


def read_secret(service: str, user: str) -> str | None:
    """A secret from the system keyring; None when it has none (or there is no keyring)."""
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(service, user)
    except (KeyringError, RuntimeError):
        return None


def keep_secret(service: str, user: str, secret: str | None) -> None:
    """Keep `secret` in the system keyring (None: forget it); KeyringUnavailable without one."""
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        if secret:
            keyring.set_password(service, user, secret)
        else:
            try:
                keyring.delete_password(service, user)
            except PasswordDeleteError:
                pass
    except (KeyringError, RuntimeError) as exc:
        raise keyring_unavailable(exc) from None


# -- references to remote models ------------------------------------------------------------------

def ref(url: str, model: str) -> str:
    return f"{REF_PREFIX}{api_root(url)}#{model}"


def is_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(REF_PREFIX)


def parse_ref(value: str) -> tuple[str, str]:
    """(url, model) of a `remote:URL#MODEL` reference."""
    url, sep, model = value[len(REF_PREFIX):].partition("#")
    if not is_ref(value) or not sep or not model:
        raise UserError(f"{value!r} does not name a remote model.")
    return url, model


def remote_choices(store: Store) -> list[tuple[str, str, Endpoint]]:
    """(reference, label, endpoint) of every model the saved endpoints served when last asked."""
    return [(ref(e.url, m), f"{m} — {e.label}", e) for e in endpoints(store) for m in e.models]


def ref_label(value: str) -> str:
    url, model = parse_ref(value)
    return f"{model} on {url.split('://', 1)[-1]}"


def open_engine(store: Store | None, value: str, *, api_key_override: str | None = None,
                mode: str | None = None) -> RemoteEngine:
    """The engine for a remote reference, with its endpoint's saved settings and key (slow:
    it talks to the server; call it on the engine's thread)."""
    url, model = parse_ref(value)
    endpoint = find_endpoint(store, url) if store is not None else None
    key = api_key_override if api_key_override is not None else api_key(url)
    return RemoteEngine(url, model, mode=mode or (endpoint.mode if endpoint else None),
                        api_key=key, n_ctx=endpoint.n_ctx if endpoint else None)


def remote_models(url: str, key: str | None) -> list[RemoteModel]:
    """What the endpoint serves (slow: call it off the GUI thread)."""
    connection = Connection(url, key)
    try:
        return list_models(connection)
    finally:
        connection.close()


# -- which engine a chat uses ---------------------------------------------------------------------

def chat_engine(store: Store, conversation_id: int) -> str | None:
    """The model (a path or a remote reference) this chat is set to use, if any."""
    value = store.settings.get(f"{CHAT_ENGINE_PREFIX}{conversation_id}")
    return value if isinstance(value, str) and value else None


def set_chat_engine(store: Store, conversation_id: int, model: str | None) -> None:
    key = f"{CHAT_ENGINE_PREFIX}{conversation_id}"
    if model:
        store.settings.set(key, model)
    else:
        store.settings.delete(key)
