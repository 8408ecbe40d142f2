"""A turn as an OpenAI chat-completions request, and the streamed reply as Hearth's events.

For endpoints that render prompts themselves (Ollama, LM Studio, OpenRouter, a company
gateway): the conversation goes as `messages`, the tools as OpenAI function tools, and the
reply's deltas come back as the events the turn and the tool loop already know —
`reasoning_content`/`reasoning` as reasoning, `content` as the answer (a `<think>` block in it
as reasoning), `tool_calls` as ToolCall once the reply ends.

gpt-oss's built-in tools travel as functions too: `browser.search` as `browser_search`,
`python` as `python` taking `{"code": …}`; names are mapped back when the model calls them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .chat_messages import ChatMessage, call_for, messages_from_openai, tools_from_openai
from .events import Event, ReasoningDelta, ToolCall
from .harmony import ThinkTagParser
from .harmony_tools import ToolNamespace

_WIRE_NAME = re.compile(r"[^A-Za-z0-9_-]")
PYTHON_PARAMETERS = {"type": "object", "properties": {"code": {"type": "string",
                     "description": "The Python code to run."}}, "required": ["code"]}


def wire_name(recipient: str) -> str:
    """A harmony recipient as an OpenAI function name (letters, digits, _ and -; 64 at most)."""
    name = recipient.removeprefix("functions.")
    return _WIRE_NAME.sub("_", name)[:64] or "tool"


class ChatPayload(str):
    """A rendered chat-API request: a `str` (a readable transcript, what answers hash and
    what token estimates count) that carries the request's JSON parts in `body`."""

    body: dict
    recipients: dict  # wire name -> harmony recipient

    def __new__(cls, text: str, body: dict, recipients: dict) -> "ChatPayload":
        payload = super().__new__(cls, text)
        payload.body, payload.recipients = body, recipients
        return payload

    def __reduce__(self):
        return (ChatPayload, (str(self), self.body, self.recipients))


def chat_payload(messages: Sequence[ChatMessage | Mapping], effort: str, *, tools=None,
                 builtin_tools: Sequence[ToolNamespace] = (),
                 thinking: bool | None = None) -> ChatPayload:
    """The request body's `messages`, `tools` and `reasoning_effort` for these messages;
    `thinking` as the template switch vLLM and llama-server take (`enable_thinking`)."""
    recipients: dict[str, str] = {}
    wire_tools = []
    for tool in tools_from_openai(tools):
        name = wire_name(tool.name)
        recipients[name] = f"functions.{tool.name}"
        wire_tools.append(_function(name, tool.description, tool.parameters))
    for namespace in builtin_tools:
        if namespace.name == "python":
            recipients["python"] = "python"
            wire_tools.append(_function("python", namespace.description or "", PYTHON_PARAMETERS))
        for tool in namespace.tools:
            name = wire_name(f"{namespace.name}.{tool.name}")
            recipients[name] = f"{namespace.name}.{tool.name}"
            wire_tools.append(_function(name, tool.description, tool.parameters))
    wire = [_wire_message(m) for m in messages_from_openai(messages)]
    body: dict[str, Any] = {"messages": wire, "reasoning_effort": effort}
    if wire_tools:
        body["tools"] = wire_tools
    if thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": thinking}
    text = "\n\n".join(f"{m['role']}: {m.get('content') or ''}"
                       + "".join(f"\n→ {c['function']['name']}({c['function']['arguments']})"
                                 for c in m.get("tool_calls", ()))
                       for m in wire)
    if wire_tools:
        text += "\n\ntools: " + json.dumps(wire_tools, ensure_ascii=False, sort_keys=True)
    return ChatPayload(text, body, recipients)


def _function(name: str, description: str, parameters) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description or "",
        "parameters": parameters if parameters is not None else {"type": "object", "properties": {}}}}


def _wire_message(m: ChatMessage) -> dict:
    out: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role,
                           "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id or f"call_{i}", "type": "function", "function": {
            "name": wire_name(c.recipient), "arguments": _wire_arguments(c)}}
            for i, c in enumerate(m.tool_calls)]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id
        if m.name:
            out["name"] = wire_name(m.name)
    return out


def _wire_arguments(call: ToolCall) -> str:
    if call.recipient == "python":  # raw code in harmony; a JSON object over the chat API
        return json.dumps({"code": call.arguments}, ensure_ascii=False)
    return call.arguments or "{}"


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChatStreamReader:
    """Chat-completion chunks in, Hearth events out; the calls once the reply is over."""

    def __init__(self, recipients: Mapping[str, str]) -> None:
        self.recipients = dict(recipients)
        self._think = ThinkTagParser()
        self._calls: dict[int, _PendingCall] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.chunks = 0  # chunks that carried generated text or a call

    def feed(self, chunk: Mapping) -> list[Event]:
        if isinstance(chunk.get("usage"), Mapping):
            self.usage = dict(chunk["usage"])
        events: list[Event] = []
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return events
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, Mapping):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events += self._think.feed(content)
            for index, call in enumerate(delta.get("tool_calls") or ()):
                if isinstance(call, Mapping):
                    self._call_delta(call, index)
            if events or delta.get("tool_calls"):
                self.chunks += 1
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return events

    def _call_delta(self, call: Mapping, position: int) -> None:
        index = call.get("index", position)
        pending = self._calls.setdefault(index if isinstance(index, int) else position,
                                         _PendingCall())
        if isinstance(call.get("id"), str) and call["id"]:
            pending.id = call["id"]
        function = call.get("function") or {}
        if isinstance(function, Mapping):
            if isinstance(function.get("name"), str):
                pending.name += function["name"]
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                pending.arguments.append(arguments)
            elif isinstance(arguments, Mapping):  # a few servers send an object
                pending.arguments.append(json.dumps(arguments, ensure_ascii=False))

    def finish(self) -> list[Event]:
        """The rest of the text, then the calls (only when the reply ended for them: a reply
        cut off by its length limit has incomplete arguments)."""
        events = self._think.finish()
        if self.finish_reason == "length":
            return events
        for index in sorted(self._calls):
            pending = self._calls[index]
            if not pending.name:
                continue
            recipient = self.recipients.get(pending.name, pending.name)
            arguments = "".join(pending.arguments)
            if recipient == "python":
                try:
                    arguments = str(json.loads(arguments).get("code", ""))
                except (ValueError, AttributeError):
                    pass  # not the JSON it should be: the python tool gets it as written
            events.append(call_for(recipient, arguments, id=pending.id))
        return events
