"""A conversation as the engine renders it: typed messages, tool calls and tool definitions,
converted from the OpenAI chat shape that `hearth render`, storage and other tools speak.

The OpenAI shape, with Hearth's `thinking` beside an assistant's `content`:

    {"role": "system" | "developer" | "user", "content": "..."}
    {"role": "assistant", "content": "...", "thinking": "...",
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Oslo\\"}"}}]}
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "..."}

`arguments` may be a JSON string (kept exactly as written) or a JSON object (written compact).
A function name becomes harmony's recipient `functions.NAME`; names that already are one
(`functions.x`, `browser.search`, `python` — gpt-oss's built-in tools) stay as they are, so a
function that is itself called "python" must be written `functions.python`. A call may carry
`channel`, `content_type` and `constrained` (Hearth's additions) to say how the model wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .chat_format import ChatTemplateError
from .events import ToolCall
from .harmony_tools import FunctionTool

ROLES = ("system", "developer", "user", "assistant", "tool")
BUILTIN_NAMESPACES = ("browser", "python", "container")


class MessageFormatError(ChatTemplateError):
    """A message or tool definition is not in a shape the renderer understands (a
    ChatTemplateError, so whatever reports a template's refusal reports this too)."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # one of ROLES
    content: str = ""
    thinking: str = ""  # assistant: the reasoning before its content or calls
    tool_calls: tuple[ToolCall, ...] = field(default_factory=tuple)  # assistant
    tool_call_id: str = ""  # tool: the call this result answers
    name: str = ""  # tool: the tool that answered (a function name or a recipient)


def recipient_for(name: str) -> str:
    """harmony's recipient for a tool name: `functions.NAME` unless it already names one."""
    if name.startswith("functions.") or name.split(".", 1)[0] in BUILTIN_NAMESPACES:
        return name
    return f"functions.{name}"


def call_for(name: str, arguments: str = "{}", *, id: str = "", channel: str | None = None,
             content_type: str | None = None, constrained: bool | None = None) -> ToolCall:
    """A call with the header gpt-oss writes for it: functions on `commentary` with
    `<|constrain|>json`, built-in tools on `analysis` with `code`."""
    recipient = recipient_for(name)
    builtin = not recipient.startswith("functions.")
    return ToolCall(recipient=recipient, arguments=arguments,
                    channel=channel or ("analysis" if builtin else "commentary"),
                    content_type=content_type if content_type is not None else ("code" if builtin else "json"),
                    constrained=constrained if constrained is not None else not builtin,
                    id=id)


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # OpenAI content parts: only text parts carry text here
        parts = []
        for part in value:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise MessageFormatError(f"{what}: only text content parts are supported")
            parts.append(_text(part.get("text"), what))
        return "".join(parts)
    if not isinstance(value, str):
        raise MessageFormatError(f"{what} must be text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MessageFormatError(f"{what} is not valid Unicode text (a lone surrogate)") from None
    return value


def _call_from_openai(call: Any, where: str) -> ToolCall:
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise MessageFormatError(f"{where}: a tool call must be an object")
    function = call.get("function", call)
    if not isinstance(function, Mapping):
        raise MessageFormatError(f"{where}: a tool call's function must be an object")
    name = _text(function.get("name"), f"{where}: the function's name")
    if not name:
        raise MessageFormatError(f"{where}: a tool call needs the function's name")
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        try:
            arguments = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise MessageFormatError(f"{where}: the arguments are not JSON: {exc}") from None
    constrained = call.get("constrained")
    if constrained is not None and not isinstance(constrained, bool):
        raise MessageFormatError(f"{where}: constrained must be true or false")
    return call_for(name, _text(arguments, f"{where}: the arguments"),
                    id=_text(call.get("id"), f"{where}: the call's id"),
                    channel=_text(call.get("channel"), f"{where}: the channel") or None,
                    content_type=(_text(call.get("content_type"), f"{where}: the content type")
                                  if "content_type" in call else None),
                    constrained=constrained)


def message_from_openai(message: ChatMessage | Mapping, index: int = 0) -> ChatMessage:
    if isinstance(message, ChatMessage):
        return message
    where = f"message {index + 1}"
    if not isinstance(message, Mapping):
        raise MessageFormatError(f"{where} must be an object")
    role = message.get("role")
    if role not in ROLES:
        raise MessageFormatError(f"{where}: the role must be one of {', '.join(ROLES)}, not {role!r}")
    calls = message.get("tool_calls") or ()
    if calls and role != "assistant":
        raise MessageFormatError(f"{where}: only an assistant message can make tool calls")
    if not isinstance(calls, (list, tuple)):
        raise MessageFormatError(f"{where}: tool_calls must be a list")
    return ChatMessage(
        role=role,
        content=_text(message.get("content"), f"{where}: the content"),
        thinking=_text(message.get("thinking"), f"{where}: the thinking"),
        tool_calls=tuple(_call_from_openai(c, where) for c in calls),
        tool_call_id=_text(message.get("tool_call_id"), f"{where}: tool_call_id"),
        name=_text(message.get("name"), f"{where}: the name"),
    )


def messages_from_openai(messages: Iterable[ChatMessage | Mapping]) -> list[ChatMessage]:
    return [message_from_openai(m, i) for i, m in enumerate(messages)]


def message_to_openai(message: ChatMessage) -> dict:
    """The OpenAI shape again (for other models' Jinja templates)."""
    out: dict = {"role": message.role, "content": message.content}
    if message.thinking:
        out["thinking"] = message.thinking
    if message.tool_calls:
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": c.arguments}}
                             for c in message.tool_calls]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
        if message.name:
            out["name"] = message.name
    return out


def tool_from_openai(tool: FunctionTool | Mapping, index: int = 0) -> FunctionTool:
    """`{"type": "function", "function": {"name", "description", "parameters"}}` (or the bare
    function object) as a FunctionTool."""
    if isinstance(tool, FunctionTool):
        return tool
    where = f"tool {index + 1}"
    if not isinstance(tool, Mapping):
        raise MessageFormatError(f"{where} must be an object")
    function = tool.get("function", tool)
    if not isinstance(function, Mapping):
        raise MessageFormatError(f"{where}: function must be an object")
    name = _text(function.get("name"), f"{where}: the name")
    if not name or any(c.isspace() for c in name) or "<|" in name:
        raise MessageFormatError(f"{where}: {name!r} is not a usable function name")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise MessageFormatError(f"{where}: parameters must be a JSON schema object")
    try:  # refuses what no schema can hold, and text that is not Unicode
        json.dumps(parameters, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise MessageFormatError(f"{where}: parameters are not a usable JSON schema: {exc}") from None
    return FunctionTool(name, _text(function.get("description"), f"{where}: the description"),
                        parameters)


def tools_from_openai(tools: Iterable[FunctionTool | Mapping] | None) -> list[FunctionTool]:
    return [tool_from_openai(t, i) for i, t in enumerate(tools or ())]
