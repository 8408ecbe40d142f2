"""Tool declarations as gpt-oss was trained to read them: harmony's TypeScript-like namespaces.

A line-by-line port of `openai-harmony` 0.0.8 (src/encoding.rs: `json_schema_to_typescript`,
`template_tools_section`; src/chat.rs: the browser and python namespaces), quirks included —
the point is that the text equals what the library renders, byte for byte. tests/
test_harmony_render.py compares the two over a suite of schemas and a fuzzer.

Values are JSON as parsed by `json.loads` (dicts keep their order, as harmony's
`serde_json` with `preserve_order` does). Where harmony prints a JSON value (a default),
it uses serde_json's compact form: `_serde_json` below writes that, floats included.
"""

from __future__ import annotations

import decimal
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call (`functions.NAME`), described by a JSON schema."""

    name: str
    description: str = ""
    parameters: Any = None  # a JSON schema (usually an object schema); None: takes nothing


@dataclass(frozen=True)
class ToolNamespace:
    """A namespace of tools declared in the system message (gpt-oss's built-in tools)."""

    name: str
    description: str | None = None
    tools: tuple[FunctionTool, ...] = field(default_factory=tuple)


BROWSER = ToolNamespace(
    "browser",
    "Tool for browsing.\nThe `cursor` appears in brackets before each browsing display: `[{cursor}]`.\n"
    "Cite information from the tool using the following format:\n"
    "`【{cursor}†L{line_start}(-L{line_end})?】`, for example: `【6†L9-L11】` or `【8†L3】`.\n"
    "Do not quote more than 10 words directly from the tool output.\nsources=web (default: web)",
    (
        FunctionTool(
            "search",
            "Searches for information related to `query` and displays `topn` results.",
            {"type": "object",
             "properties": {"query": {"type": "string"},
                            "topn": {"type": "number", "default": 10},
                            "source": {"type": "string"}},
             "required": ["query"]}),
        FunctionTool(
            "open",
            "Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, "
            "showing `num_lines` lines.\nValid link ids are displayed with the formatting: `【{id}†.*】`.\n"
            "If `cursor` is not provided, the most recent page is implied.\n"
            "If `id` is a string, it is treated as a fully qualified URL associated with `source`.\n"
            "If `loc` is not provided, the viewport will be positioned at the beginning of the document "
            "or centered on the most relevant passage, if available.\n"
            "Use this function without `id` to scroll to a new location of an opened page.",
            {"type": "object",
             "properties": {"id": {"type": ["number", "string"], "default": -1},
                            "cursor": {"type": "number", "default": -1},
                            "loc": {"type": "number", "default": -1},
                            "num_lines": {"type": "number", "default": -1},
                            "view_source": {"type": "boolean", "default": False},
                            "source": {"type": "string"}}}),
        FunctionTool(
            "find",
            "Finds exact matches of `pattern` in the current page, or the page given by `cursor`.",
            {"type": "object",
             "properties": {"pattern": {"type": "string"},
                            "cursor": {"type": "number", "default": -1}},
             "required": ["pattern"]}),
    ),
)

PYTHON = ToolNamespace(
    "python",
    "Use this tool to execute Python code in your chain of thought. The code will not be shown to "
    "the user. This tool should be used for internal reasoning, but not for code that is intended "
    "to be visible to the user (e.g. when creating plots, tables, or files).\n\n"
    "When you send a message containing Python code to python, it will be executed in a stateful "
    "Jupyter notebook environment. python will respond with the output of the execution or time "
    "out after 120.0 seconds. The drive at '/mnt/data' can be used to save and persist user files. "
    "Internet access for this session is UNKNOWN. Depends on the cluster.",
)


def tools_section(namespaces: Sequence[ToolNamespace]) -> str:
    """The `# Tools` section: namespaces sorted by name (harmony keeps them in a BTreeMap)."""
    sections = ["# Tools"]
    for ns in sorted({ns.name: ns for ns in namespaces}.values(), key=lambda ns: ns.name):
        part = [f"## {ns.name}\n"]
        if ns.description is not None:
            part += [f"// {line}" if ns.tools else line for line in _lines(ns.description)]
        if ns.tools:
            part.append(f"namespace {ns.name} {{\n")
            for tool in ns.tools:
                part += [f"// {line}" for line in _lines(tool.description)]
                if tool.parameters is not None:
                    part.append(f"type {tool.name} = (_: {typescript(tool.parameters)}) => any;\n")
                else:
                    part.append(f"type {tool.name} = () => any;\n")
            part.append(f"}} // namespace {ns.name}")
        sections.append("\n".join(part))
    return "\n\n".join(sections)


def _lines(text: str) -> list[str]:
    """Rust's `str::lines`: split at \\n or \\r\\n; a final line ending adds no empty line."""
    parts = text.split("\n")
    last = parts.pop()
    lines = [p[:-1] if p.endswith("\r") else p for p in parts]
    return lines + [last] if last else lines


# -- JSON schema → TypeScript ------------------------------------------------------------------


def _get(value: Any, key: str) -> Any:
    """serde_json's `Value::get`: a key of an object, None for anything else."""
    return value.get(key) if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _is_enum(schema: Any) -> bool:
    values = _get(schema, "enum")
    return isinstance(values, list) and bool(values)


def _nullable(variant: Any, type_str: str) -> str:
    if _get(variant, "nullable") is True and "null" not in type_str:
        return f"{type_str} | null"
    return type_str


def _default_comment(schema: Any, default: Any, *, raw_enum: bool) -> str:
    """`default: …` as harmony writes it; `raw_enum`: an enum's string default goes unquoted
    (the property-level forms) rather than JSON-encoded (a top-level oneOf variant)."""
    if isinstance(default, str) and not _is_enum(schema):
        return f'default: "{default}"'
    if isinstance(default, str) and raw_enum:
        return f"default: {default}"
    return f"default: {_serde_json(default)}"


def typescript(schema: Any, indent: str = "") -> str:
    """harmony's `json_schema_to_typescript`."""
    one_of = _get(schema, "oneOf")
    if isinstance(one_of, list):
        out = ""
        for variant in one_of:
            out += f"\n{indent} | "
            out += _nullable(variant, typescript(variant, f"{indent}   "))
            comments = []
            desc = _str(_get(variant, "description"))
            if desc is not None:
                comments.append(desc)
            if isinstance(variant, dict) and "default" in variant:
                comments.append(_default_comment(variant, variant["default"], raw_enum=False))
            if comments:
                out += f" // {' '.join(comments)}"
        return out
    kind = _get(schema, "type")
    if isinstance(kind, list):
        names = ["number" if t == "integer" else t for t in kind if isinstance(t, str)]
        if names:
            return " | ".join(names)
    if isinstance(kind, str):
        if kind == "object":
            return _object(schema, indent)
        if kind == "string":
            values = _get(schema, "enum")
            if isinstance(values, list):
                names = [f'"{v}"' for v in values if isinstance(v, str)]
                if names:
                    return " | ".join(names)
            return "string"
        if kind in ("number", "integer"):
            return "number"
        if kind == "boolean":
            return "boolean"
        if kind == "array":
            if isinstance(schema, dict) and "items" in schema:
                return f"{typescript(schema['items'], indent)}[]"
            return "Array<any>"
        return "any"
    return "any"  # harmony's last branch (a oneOf that is not a list) also gives "any"


def _object(schema: dict, indent: str) -> str:
    out = ""
    desc = _str(schema.get("description"))
    if desc is not None:
        out += f"{indent}// {desc}\n"
    out += "{\n"
    props = schema.get("properties")
    if isinstance(props, dict):
        req = schema.get("required")
        required = {r for r in req if isinstance(r, str)} if isinstance(req, list) else set()
        for key, val in props.items():
            mark = "" if key in required else "?"
            title = _str(_get(val, "title"))
            if title is not None:
                out += f"{indent}// {title}\n{indent}//\n"
            val_one_of = _get(val, "oneOf")
            val_desc = _str(_get(val, "description"))
            if val_one_of is None and val_desc is not None:
                out += f"{indent}// {val_desc}\n"
            examples = _get(val, "examples")
            if isinstance(examples, list) and examples:
                out += f"{indent}// Examples:\n"
                for example in examples:
                    if isinstance(example, str):
                        out += f'{indent}// - "{example}"\n'
            if isinstance(val_one_of, list):
                out += _one_of_property(key, mark, val, val_one_of, val_desc, indent)
                continue
            out += f"{indent}{key}{mark}: "
            out += _nullable(val, typescript(val, f"{indent}    ")) + ","
            if val_one_of is None and isinstance(val, dict) and "default" in val:
                out += " // " + _default_comment(val, val["default"], raw_enum=True)
            out += "\n"
    return out + f"{indent}}}"


def _one_of_property(key: str, mark: str, val: dict, variants: list, desc: str | None,
                     indent: str) -> str:
    out = ""
    first = variants[0] if variants else None
    skip_desc = desc is not None and desc == _str(_get(first, "description"))
    desc_above = False
    if not skip_desc and desc is not None:
        out += f"{indent}// {desc}\n"
        desc_above = True
    if "default" in val:
        out += f"{indent}// {_default_comment(val, val['default'], raw_enum=True)}\n"
    out += f"{indent}{key}{mark}:\n"
    for i, variant in enumerate(variants):
        out += f"{indent} | " + _nullable(variant, typescript(variant, f"{indent}   "))
        comments = []
        variant_desc = _str(_get(variant, "description"))
        if not (i == 0 and desc_above) and variant_desc is not None and variant_desc != desc:
            comments.append(variant_desc)
        if isinstance(variant, dict) and "default" in variant:
            comments.append(_default_comment(variant, variant["default"], raw_enum=True))
        if comments:
            out += f" // {' '.join(comments)}"
        out += "\n"
    return out + f"{indent},\n"


# -- serde_json's compact output ---------------------------------------------------------------
# harmony's Python side hands the conversation to Rust as JSON text (json.dumps), which
# serde_json parses — floats with its fast, not always correctly rounded algorithm (no
# `float_roundtrip` feature) — and prints back with ryu. Both steps are copied here, so a
# default such as 1.3192459910413101e+69 prints as harmony prints it (1.31924599104131e69).

_U64_MAX = 2**64 - 1


def _serde_json(value: Any) -> str:
    """`serde_json::Value`'s Display of what `json.dumps(value)` parses to: compact JSON,
    non-ASCII kept."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        number = _serde_number(json.dumps(value))
        return str(number) if isinstance(number, int) else _ryu(number)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_serde_json(str(k))}:{_serde_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_serde_json(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _serde_number(text: str) -> int | float:
    """serde_json's number parser (de.rs: parse_integer, parse_long_integer, parse_decimal,
    parse_exponent, f64_from_parts), step by step."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return float(text)  # not JSON; printed as null
    positive = not text.startswith("-")
    s, i, sig = text.lstrip("-"), 0, 0
    exponent = 0
    while i < len(s) and s[i].isdigit():
        if sig * 10 + int(s[i]) > _U64_MAX:  # parse_long_integer: later digits only scale
            while i < len(s) and s[i].isdigit():
                i, exponent = i + 1, exponent + 1
            break
        sig, i = sig * 10 + int(s[i]), i + 1
    else:
        if i == len(s):  # an integer that fits
            if positive:
                return sig
            return -float(sig) if sig == 0 or sig > 2**63 else -sig
    if i < len(s) and s[i] == ".":  # parse_decimal
        i += 1
        while i < len(s) and s[i].isdigit():
            if sig * 10 + int(s[i]) > _U64_MAX:  # parse_decimal_overflow: the rest is ignored
                while i < len(s) and s[i].isdigit():
                    i += 1
                break
            sig, i, exponent = sig * 10 + int(s[i]), i + 1, exponent - 1
    if i < len(s) and s[i] in "eE":
        exponent += int(s[i + 1:])
    return _f64_from_parts(positive, sig, exponent)


def _f64_from_parts(positive: bool, sig: int, exponent: int) -> float:
    f = float(sig)
    while True:
        if abs(exponent) <= 308:
            if exponent >= 0:
                f *= float(f"1e{exponent}")
            else:
                f /= float(f"1e{-exponent}")
            break
        if f == 0.0 or exponent >= 0:  # (serde_json: out of range, an error there)
            break
        f /= 1e308
        exponent += 308
    return f if positive else -f


def _ryu(value: float) -> str:
    """A float as ryu's `format_finite` writes it (shortest digits, Rust's layout)."""
    if value != value or value in (float("inf"), float("-inf")):
        return "null"  # serde_json cannot hold these
    if value == 0.0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digits, exp = decimal.Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    exp += len(digits) - len(text)  # value = text × 10^exp
    k, n = exp, len(text)
    kk = n + k  # where the decimal point falls, counted from the first digit
    if 0 <= k and kk <= 16:
        out = text + "0" * k + ".0"
    elif 0 < kk <= 16:
        out = text[:kk] + "." + text[kk:]
    elif -5 < kk <= 0:
        out = "0." + "0" * -kk + text
    elif n == 1:
        out = f"{text}e{kk - 1}"
    else:
        out = f"{text[0]}.{text[1:]}e{kk - 1}"
    return ("-" if sign else "") + out
