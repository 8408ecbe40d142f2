"""What an MCP server's tools become for the model: vetted definitions, names gpt-oss can
call, and results as text.

A server is untrusted: its listing is vetted tool by tool (a tool whose schema is not an
object schema, is absurdly nested or huge is refused with a reason; the others are kept), and
its results are cut to a size the model can read. Pure functions over plain data; no SDK import.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

MAX_TOOLS_PER_SERVER = 128
MAX_SCHEMA_DEPTH = 24  # nested objects/lists; real schemas stay under ~10
MAX_SCHEMA_CHARS = 64_000
MAX_DESCRIPTION_CHARS = 4_000
MAX_NAME_CHARS = 64  # OpenAI-style function names; gpt-oss was trained on such
MAX_RESULT_CHARS = 100_000  # the tool loop may cut further; this bounds what we even build
EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class RemoteTool:
    """A tool as its server offers it, after vetting."""

    name: str  # the server's own name, used to call it
    title: str
    description: str
    parameters: dict  # an object schema


def vet_tool(raw: Any) -> tuple[dict | None, str]:
    """A listing entry made safe to offer (`(entry, "")`), or `(None, reason)` to refuse it.

    Lenient where real servers are sloppy: a missing or empty input schema becomes an
    object schema without properties, and a schema without "type" is taken as an object."""
    if not isinstance(raw, dict):
        return None, "not a tool definition"
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        return None, "has no name"
    if len(name) > 256:
        return None, "name longer than 256 characters"
    schema = raw.get("inputSchema")
    if schema is None or schema == {}:
        schema = dict(EMPTY_OBJECT_SCHEMA)
    if not isinstance(schema, dict):
        return None, "its input schema is not a JSON object"
    if "type" not in schema:
        schema = {"type": "object", **schema}
    if schema.get("type") != "object":
        return None, f"its input schema is not an object schema (type {str(schema['type'])[:40]!r})"
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return None, f"its input schema is nested more than {MAX_SCHEMA_DEPTH} levels deep"
    if (ref := _outside_reference(schema)) is not None:
        # jsonschema fetches such a document when it validates: a server could make Hearth
        # reach any address it names.
        return None, f"its input schema refers to another document ({ref[:80]!r})"
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        return None, f"its input schema is larger than {MAX_SCHEMA_CHARS // 1000} KB"
    entry = dict(raw, inputSchema=schema)
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        entry.pop("description")
    # We read results as text. An output schema would only let the SDK refuse a result that
    # does not match it (every call, for a server whose schema is wrong), so it goes.
    entry.pop("outputSchema", None)
    return entry, ""


def vet_listing(result: Any, already: int = 0) -> tuple[Any, list[tuple[str, str]]]:
    """A `tools/list` result with its unusable tools taken out, and (tool, reason) for each.
    `already`: tools kept from earlier pages, for the per-server cap."""
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return result, []
    kept, refused = [], []
    for raw in result["tools"]:
        entry, reason = vet_tool(raw)
        name = raw.get("name") if isinstance(raw, dict) else None
        label = name if isinstance(name, str) else "?"
        if entry is not None and already + len(kept) >= MAX_TOOLS_PER_SERVER:
            entry, reason = None, f"the server offers more than {MAX_TOOLS_PER_SERVER} tools"
        if entry is None:
            refused.append((label[:100], reason))
        else:
            kept.append(entry)
    return dict(result, tools=kept), refused


def remote_tool(tool: Any) -> RemoteTool:
    """RemoteTool from the SDK's parsed `Tool` (duck-typed: no SDK import here)."""
    annotations = getattr(tool, "annotations", None)
    title = tool.title or (annotations.title if annotations else None) or tool.name
    description = (tool.description or "").strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[:MAX_DESCRIPTION_CHARS].rstrip() + "…"
    return RemoteTool(name=tool.name, title=title, description=description,
                      parameters=dict(tool.input_schema))


def model_names(offered: Iterable[tuple[str, str]], reserved: Iterable[str] = ()) -> dict:
    """{(server, tool): the name the model calls}, for every (server, tool) offered.

    gpt-oss calls `functions.NAME`, NAME in [A-Za-z0-9_]. A name two servers share (or that
    a built-in tool has) is prefixed with its server's name for every holder, so which server
    listed first does not decide who keeps the plain name."""
    offered = list(offered)
    taken = {n.lower() for n in reserved}
    plain = {key: _sanitise(key[1]) for key in offered}
    counts: dict[str, int] = {}
    for name in plain.values():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    names: dict = {}
    used = set(taken)
    for key in offered:
        name = plain[key]
        if counts[name.lower()] > 1 or name.lower() in taken:
            name = _sanitise(f"{key[0]}_{key[1]}")
        base, n = name, 2
        while name.lower() in used:  # still clashing (server names alike once sanitised)
            suffix = f"_{n}"
            name, n = base[: MAX_NAME_CHARS - len(suffix)] + suffix, n + 1
        used.add(name.lower())
        names[key] = name
    return names


def result_text(result: Any) -> tuple[str, bool]:
    """(text the model reads, is_error) from the SDK's `CallToolResult` (duck-typed)."""
    parts: list[str] = []
    size = 0
    total = 0
    for block in result.content or []:
        text = _block_text(block)
        total += len(text) + (2 if parts else 0)
        if size < MAX_RESULT_CHARS:
            parts.append(text)
            size += len(text) + 2
    if not parts and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
        total, parts = len(text), [text]
    text = "\n\n".join(parts)
    if total > MAX_RESULT_CHARS:
        text = (text[:MAX_RESULT_CHARS] + f"\n\n[cut: the tool returned {total:,} characters; "
                f"only the first {MAX_RESULT_CHARS:,} are shown]")
    return text, bool(result.is_error)


def _block_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return f"[{kind}: {block.mime_type}, {_decoded_size(block.data):,} bytes]"
    if kind == "resource_link":
        return f"[resource: {block.name} {block.uri}]"
    if kind == "resource":
        res = block.resource
        if getattr(res, "text", None) is not None:
            return f"[resource: {res.uri}]\n{res.text}"
        mime = res.mime_type or "application/octet-stream"
        return f"[resource: {res.uri}, {mime}, {_decoded_size(res.blob):,} bytes]"
    return f"[{kind or 'unknown'} content]"


def _decoded_size(data: str) -> int:
    """Bytes that base64 `data` decodes to, without decoding a possibly huge payload."""
    data = data.strip()
    if len(data) > 4096:
        return len(data) * 3 // 4 - data[-2:].count("=")
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4


def _sanitise(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    name = re.sub(r"_+", "_", name) or "tool"
    if name[0].isdigit():
        name = "t_" + name
    return name[:MAX_NAME_CHARS]


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MAX_SCHEMA_DEPTH:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest



def _outside_reference(schema: dict) -> str | None:
    """The first $ref (or dynamic ref) that points outside the schema itself, if any."""
    stack: list = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("$ref", "$dynamicRef", "$recursiveRef"):
                ref = item.get(key)
                if ref is not None and not (isinstance(ref, str) and ref.startswith("#")):
                    return str(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
