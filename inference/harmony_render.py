"""gpt-oss prompts rendered exactly as OpenAI's `openai-harmony` library renders them.

`render_harmony` gives the text `HarmonyEncoding.render_conversation_for_completion` gives
(0.0.8, decoded), byte for byte, with one deliberate difference: every earlier turn's reasoning
is dropped — every analysis message before the last final answer — as OpenAI's format guide
says; harmony 0.0.8 keeps all but those before the *first* final answer, and keeps them all
while a tool call is pending (openai/harmony PR #96). Reasoning after the last final answer
(the turn in progress: reasoning between tool calls) stays.

The result is a `Prompt`: the text, plus its segments — each harmony marker (`<|start|>`,
`<|message|>`…) apart from the text around it, as harmony itself tokenizes: markers become
their control tokens, everything else (role names, headers, the system message, tool
declarations, what a user, a tool or the model wrote) is encoded as plain text. So a pasted
`<|end|>` stays text (Engine.tokenize honours the segments).

How the OpenAI chat shape maps onto harmony messages:
- a leading system/developer message: the developer message's `# Instructions` (with the
  function tools' `# Tools` after them); a later one: a developer message of its own, there;
- assistant: `thinking` → analysis; `content` → final, or, beside tool calls, a commentary
  preamble; each call → `<|start|>assistant to=RECIPIENT<|channel|>…<|call|>`, in order;
- tool: `<|start|>RECIPIENT to=assistant<|channel|>CHANNEL<|message|>…<|end|>`, where the
  recipient and channel are those of the call it answers (by `tool_call_id`, else by `name`,
  else the oldest call not yet answered);
- gpt-oss's built-in tools (BROWSER, PYTHON in harmony_tools) go in the system message.
"""

from __future__ import annotations

import datetime as _dt
from typing import Iterable, Mapping, Sequence

from common.values import EFFORTS

from .chat_messages import (
    ChatMessage,
    MessageFormatError,
    call_for,
    messages_from_openai,
    recipient_for,
    tools_from_openai,
)
from .events import ToolCall
from .harmony_tools import FunctionTool, ToolNamespace, tools_section

MODEL_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
KNOWLEDGE_CUTOFF = "2024-06"
CHANNELS = "# Valid channels: analysis, commentary, final. Channel must be included for every message."
FUNCTIONS_CHANNEL = "Calls to these tools must go to the commentary channel: 'functions'."

Segment = tuple[str, bool]  # (text, is a harmony marker)


class Prompt(str):
    """Prompt text that remembers its segments: markers apart from plain text.

    A `str`, so it goes wherever prompt text goes (`hearth render` prints it, a hash of it
    identifies a prompt); `Engine.tokenize` sees the segments and never reads a marker out of
    plain text. Slicing or concatenating gives a plain `str` again, without segments.
    """

    segments: tuple[Segment, ...]

    def __new__(cls, segments: Iterable[Segment]) -> "Prompt":
        segments = tuple(segments)
        prompt = super().__new__(cls, "".join(text for text, _ in segments))
        prompt.segments = segments
        return prompt

    def __reduce__(self):  # pickling and copying keep the segments
        return (Prompt, (self.segments,))

    def messages(self) -> list[tuple[Segment, ...]]:
        """The segments cut before each `<|start|>`: one group per message."""
        groups: list[list[Segment]] = []
        for segment in self.segments:
            if not groups or segment == ("<|start|>", True):
                groups.append([])
            groups[-1].append(segment)
        return [tuple(g) for g in groups]


class _Writer:
    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def marker(self, marker: str) -> None:
        self.segments.append((marker, True))

    def text(self, text: str) -> None:
        if not text:
            return
        if self.segments and not self.segments[-1][1]:
            self.segments[-1] = (self.segments[-1][0] + text, False)
        else:
            self.segments.append((text, False))

    def message(self, author: str, content: str, *, recipient: str | None = None,
                channel: str | None = None, content_type: str = "", constrained: bool = False,
                end: str | None = "<|end|>") -> None:
        """harmony's `Render<Message>`; `end=None` leaves the message open (a continuation)."""
        self.marker("<|start|>")
        self.text(author)
        if recipient is not None and recipient != "all":
            self.text(f" to={recipient}")
        if channel is not None:
            self.marker("<|channel|>")
            self.text(channel)
        if constrained:
            self.text(" ")
            self.marker("<|constrain|>")
            self.text(content_type)
        elif content_type:
            self.text(f" {content_type}")
        self.marker("<|message|>")
        self.text(content)
        if end is not None:
            self.marker(end)


def render_harmony(messages: Sequence[ChatMessage | Mapping], *, effort: str = "medium",
                   now: _dt.date | None = None, tools: Sequence[FunctionTool | Mapping] | None = None,
                   builtin_tools: Sequence[ToolNamespace] = (),
                   continue_final: bool = False) -> Prompt:
    """The prompt for the assistant's next message.

    `tools`: function tools (FunctionTool or the OpenAI `tools` shape), declared in the
    developer message as `functions`. `builtin_tools`: gpt-oss's own (harmony_tools.BROWSER,
    PYTHON), declared in the system message. `now`: the conversation's date (today if None).
    `continue_final`: the last message is a cut-off answer; the prompt ends inside it.
    """
    if effort not in EFFORTS:
        raise ValueError(f"reasoning effort must be one of {', '.join(EFFORTS)}, not {effort!r}")
    msgs = messages_from_openai(messages)
    functions = tools_from_openai(tools)
    if continue_final and (not msgs or msgs[-1].role != "assistant" or msgs[-1].tool_calls):
        raise ValueError("only an assistant answer can be continued")
    date = (now or _dt.datetime.now()).strftime("%Y-%m-%d")
    out = _Writer()

    system = [f"{MODEL_IDENTITY}\nKnowledge cutoff: {KNOWLEDGE_CUTOFF}\nCurrent date: {date}",
              f"Reasoning: {effort}"]
    if builtin_tools:
        system.append(tools_section(builtin_tools))
    system.append(f"{CHANNELS}\n{FUNCTIONS_CHANNEL}" if functions else CHANNELS)
    out.message("system", "\n\n".join(system))

    developer, first = [], 0
    if msgs and msgs[0].role in ("system", "developer"):
        first = 1
        if msgs[0].content:
            developer += ["# Instructions", msgs[0].content]
        msgs = msgs[1:]
    if functions:
        developer.append(tools_section([ToolNamespace("functions", None, tuple(functions))]))
    if developer:
        out.message("developer", "\n\n".join(developer))

    items = _harmony_messages(msgs, continue_final, first)
    last_final = max((i for i, item in enumerate(items) if item.get("final")), default=-1)
    for i, item in enumerate(items):
        if item.get("analysis") and i < last_final:
            continue  # an earlier turn's reasoning
        out.message(item["author"], item["content"], recipient=item.get("recipient"),
                    channel=item.get("channel"), content_type=item.get("content_type", ""),
                    constrained=item.get("constrained", False), end=item.get("end", "<|end|>"))
    if not continue_final:
        out.marker("<|start|>")
        out.text("assistant")
    return Prompt(out.segments)


def _harmony_messages(msgs: list[ChatMessage], continue_final: bool, first: int) -> list[dict]:
    """The conversation as harmony messages (keyword arguments of _Writer.message, plus
    `analysis`/`final` flags for the reasoning drop)."""
    items: list[dict] = []
    calls: list[ToolCall] = []  # every call so far, in order
    answered: set[int] = set()  # indices into `calls`
    for index, m in enumerate(msgs):
        if m.role in ("system", "developer"):
            if m.content:
                items.append({"author": "developer", "content": f"# Instructions\n\n{m.content}"})
        elif m.role == "user":
            items.append({"author": "user", "content": m.content})
        elif m.role == "assistant":
            if m.thinking:
                items.append({"author": "assistant", "channel": "analysis", "content": m.thinking,
                              "analysis": True})
            continuing = continue_final and index == len(msgs) - 1
            if m.tool_calls:
                if m.content:  # a preamble: commentary the user may see
                    items.append({"author": "assistant", "channel": "commentary", "content": m.content})
                for call in m.tool_calls:
                    calls.append(call)
                    items.append({"author": "assistant", "recipient": call.recipient,
                                  "channel": call.channel, "content_type": call.content_type,
                                  "constrained": call.constrained, "content": call.arguments,
                                  "end": "<|call|>"})
            elif m.content or continuing:
                items.append({"author": "assistant", "channel": "final", "content": m.content,
                              "final": not continuing, "end": None if continuing else "<|end|>"})
        else:  # tool
            call = _answered_call(m, first + index, calls, answered)
            items.append({"author": call.recipient, "recipient": "assistant",
                          "channel": call.channel, "content": m.content})
    return items


def _answered_call(m: ChatMessage, index: int, calls: list[ToolCall], answered: set[int]) -> ToolCall:
    """The call a tool message answers: by id, else by name, else the oldest one unanswered."""
    def oldest(matches, unanswered_only: bool = True) -> int | None:
        return next((i for i, c in enumerate(calls)
                     if matches(c) and (i not in answered or not unanswered_only)), None)

    found = None
    if m.tool_call_id:
        found = oldest(lambda c: c.id == m.tool_call_id, unanswered_only=False)
    if found is None and m.name:
        recipient = recipient_for(m.name)
        found = oldest(lambda c: c.recipient == recipient)
        if found is None:
            found = oldest(lambda c: c.recipient == recipient, unanswered_only=False)
        if found is None:  # a result for a call this history does not hold: render it as named
            return call_for(m.name)
    if found is None and not m.tool_call_id:
        found = oldest(lambda c: True)
    if found is None:
        what = f"call {m.tool_call_id!r}" if m.tool_call_id else "a tool call"
        raise MessageFormatError(f"message {index + 1}: a tool result answers {what} that no "
                                 "earlier assistant message made (give the tool's name)")
    answered.add(found)
    return calls[found]
