"""Which MCP servers Hearth may start: `<data folder>/mcp.json`, in the common format.

    {"mcpServers": {"files": {"command": "npx", "args": ["-y", "server"], "env": {"K": "v"}},
                    "remote": {"url": "https://example.com/mcp", "headers": {"X-Key": "…"}}}}

It is the format Claude Desktop, LM Studio and Cursor write, so a person's existing file
imports as it is. A file is untrusted input: it is parsed strictly (one bad entry refuses the
whole file, with a message naming the server and the field, and nothing is changed), fields
we do not know are ignored but kept when the file is rewritten, and `"disabled": true` keeps
a server configured but never started. Nothing here imports the MCP SDK (it is slow to import).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common.errors import UserError

FILE_NAME = "mcp.json"
MAX_FILE_BYTES = 1024 * 1024
MAX_SERVERS = 200
MAX_ARGS = 1000
MAX_STRING = 32 * 1024
MAX_NAME = 100
# "type" spellings other clients write for the two transports Hearth speaks.
STDIO_TYPES = {"stdio"}
HTTP_TYPES = {"http", "streamable-http", "streamable_http", "streamablehttp"}


class MCPConfigError(UserError):
    """An MCP configuration file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ServerConfig:
    """One server: a program to start (stdio) or an address to reach (streamable HTTP)."""

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # added to a small safe set inherited from Hearth
    cwd: str = ""
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    disabled: bool = False
    # The entry as the file had it, unknown fields included, so a rewrite keeps them.
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    @property
    def reaches_network(self) -> bool:
        """Unknown for certain; a program we start is taken as local, an address as network."""
        return bool(self.url)

    def to_json(self) -> dict:
        entry = {k: v for k, v in self.raw.items()
                 if k not in ("command", "args", "env", "cwd", "url", "headers", "disabled")}
        if self.url:
            entry["url"] = self.url
            if self.headers:
                entry["headers"] = dict(self.headers)
        else:
            entry["command"] = self.command
            entry["args"] = list(self.args)
            if self.env:
                entry["env"] = dict(self.env)
            if self.cwd:
                entry["cwd"] = self.cwd
        if self.disabled:
            entry["disabled"] = True
        return entry


@dataclass(frozen=True)
class MCPConfig:
    servers: tuple[ServerConfig, ...] = ()

    def get(self, name: str) -> ServerConfig | None:
        return next((s for s in self.servers if s.name == name), None)

    def with_server(self, server: ServerConfig) -> MCPConfig:
        """This configuration with `server` added, or replacing the one of the same name."""
        if self.get(server.name) is None:
            return MCPConfig(self.servers + (server,))
        return MCPConfig(tuple(server if s.name == server.name else s for s in self.servers))

    def without(self, name: str) -> MCPConfig:
        return MCPConfig(tuple(s for s in self.servers if s.name != name))

    def to_json(self) -> dict:
        return {"mcpServers": {s.name: s.to_json() for s in self.servers}}


def config_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def load_config(path: Path) -> MCPConfig:
    """The configuration in `path`; an empty one when the file does not exist."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return MCPConfig()
    except OSError as e:
        raise MCPConfigError(f"Cannot read {path}: {e.strerror or e}") from e
    if len(data) > MAX_FILE_BYTES:
        raise MCPConfigError(f"{path.name} is larger than {MAX_FILE_BYTES // 1024} KB; "
                             "it is not an MCP configuration file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise MCPConfigError(f"{path.name} is not UTF-8 text (byte {e.start}).") from e
    return parse_config(text, source=path.name)


def save_config(path: Path, config: MCPConfig) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mcp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config.to_json(), f, indent=2, ensure_ascii=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_config(source: Path, data_dir: Path) -> list[str]:
    """Merge the servers of another app's file (Claude Desktop's, LM Studio's…) into
    `<data_dir>/mcp.json`; an imported server replaces one of the same name. Returns the
    names imported. Both files are checked before anything is written."""
    if not Path(source).is_file():
        raise MCPConfigError(f"{source} does not exist or is not a file.")
    imported = load_config(source)
    target = config_path(data_dir)
    merged = load_config(target)
    for server in imported.servers:
        merged = merged.with_server(server)
    if len(merged.servers) > MAX_SERVERS:
        raise MCPConfigError(f"More than {MAX_SERVERS} MCP servers; import fewer.")
    save_config(target, merged)
    return [s.name for s in imported.servers]


def parse_config(text: str, source: str = FILE_NAME) -> MCPConfig:
    """Parse the text of an MCP configuration file; MCPConfigError says what is wrong."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as e:
        raise MCPConfigError(f"{source}: {e.args[0]!r} appears twice in one object.") from None
    except RecursionError:
        raise MCPConfigError(f"{source} is nested too deeply to be an MCP configuration.") from None
    except ValueError as e:
        where = f" (line {e.lineno}, column {e.colno})" if hasattr(e, "lineno") else ""
        raise MCPConfigError(f"{source} is not valid JSON{where}.") from None
    if not isinstance(data, dict):
        raise MCPConfigError(f"{source} must hold a JSON object with \"mcpServers\".")
    # VS Code writes "servers"; everyone else "mcpServers".
    key = "mcpServers" if "mcpServers" in data else "servers" if "servers" in data else None
    if key is None:
        raise MCPConfigError(f"{source} has no \"mcpServers\" object.")
    entries = data[key]
    if not isinstance(entries, dict):
        raise MCPConfigError(f"{source}: \"{key}\" must be an object of servers by name.")
    if len(entries) > MAX_SERVERS:
        raise MCPConfigError(f"{source} lists more than {MAX_SERVERS} servers.")
    return MCPConfig(tuple(_server(name, entry) for name, entry in entries.items()))


def _server(name: str, entry: Any) -> ServerConfig:
    if not name.strip() or len(name) > MAX_NAME or any(c < " " or c == "\x7f" for c in name):
        raise MCPConfigError(f"MCP server name {name[:MAX_NAME]!r} is empty, too long or has "
                             "control characters.")

    def bad(field_: str, why: str) -> MCPConfigError:
        return MCPConfigError(f"MCP server {name!r}: \"{field_}\" {why}.")

    if not isinstance(entry, dict):
        raise MCPConfigError(f"MCP server {name!r} must be an object with \"command\" or \"url\".")
    kind = entry.get("type")
    if kind is not None:
        if not isinstance(kind, str):
            raise bad("type", "must be a string")
        if kind.lower() == "sse":
            raise bad("type", "is \"sse\", a transport Hearth does not speak (it speaks stdio "
                      "and streamable HTTP; most servers offer streamable HTTP at /mcp)")
        if kind.lower() not in STDIO_TYPES | HTTP_TYPES:
            raise bad("type", f"is {kind[:40]!r}; expected \"stdio\" or \"http\"")
    disabled = entry.get("disabled", False)
    if not isinstance(disabled, bool):
        raise bad("disabled", "must be true or false")
    has_command, has_url = "command" in entry, "url" in entry
    if has_command and has_url:
        raise MCPConfigError(f"MCP server {name!r} has both \"command\" and \"url\"; keep one.")
    if not has_command and not has_url:
        raise MCPConfigError(f"MCP server {name!r} needs \"command\" (a program to start) or "
                             "\"url\" (a streamable HTTP address).")
    if has_url:
        return ServerConfig(name=name, url=_url(entry["url"], bad),
                            headers=_string_map(entry.get("headers", {}), "headers", bad,
                                                header=True),
                            disabled=disabled, raw=entry)
    command = _string(entry["command"], "command", bad)
    if not command.strip():
        raise bad("command", "is empty")
    args = entry.get("args", [])
    if not isinstance(args, list):
        raise bad("args", "must be a list of strings")
    if len(args) > MAX_ARGS:
        raise bad("args", f"has more than {MAX_ARGS} items")
    cwd = entry.get("cwd", "")
    if cwd:
        cwd = os.path.expanduser(_string(cwd, "cwd", bad))
        if not os.path.isabs(cwd):
            raise bad("cwd", "must be an absolute path")
    return ServerConfig(
        name=name, command=command,
        args=tuple(_string(a, f"args[{i}]", bad) for i, a in enumerate(args)),
        env=_string_map(entry.get("env", {}), "env", bad), cwd=cwd or "",
        disabled=disabled, raw=entry)


def _string(value: Any, field_: str, bad) -> str:
    if not isinstance(value, str):
        raise bad(field_, f"must be a string, not {_json_type(value)}")
    if len(value) > MAX_STRING:
        raise bad(field_, f"is longer than {MAX_STRING} characters")
    if "\x00" in value:
        raise bad(field_, "contains a NUL character")
    return value


def _string_map(value: Any, field_: str, bad, header: bool = False) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise bad(field_, "must be an object of strings")
    if len(value) > MAX_ARGS:
        raise bad(field_, f"has more than {MAX_ARGS} entries")
    pairs = []
    for key, item in value.items():
        item = _string(item, f"{field_}.{key}", bad)
        if not key or "\x00" in key or (not header and "=" in key):
            raise bad(f"{field_}.{key}", "is not a usable name")
        if header and (not key.isascii() or any(c in key for c in " :\r\n\t")
                       or any(c in item for c in "\r\n")):
            raise bad(f"{field_}.{key}", "is not a valid HTTP header")
        pairs.append((key, item))
    return tuple(pairs)


def _url(value: Any, bad) -> str:
    url = _string(value, "url", bad).strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise bad("url", f"is {url[:80]!r}, not an http:// or https:// address")
    return url


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


__all__ = ["MCPConfig", "MCPConfigError", "ServerConfig", "config_path", "import_config",
           "load_config", "parse_config", "save_config"]
