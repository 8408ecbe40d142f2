"""Incremental parsers that turn generated pieces into reasoning / answer / tool-call events.

gpt-oss speaks *harmony*: every message is `<|start|>{header}<|message|>{body}<|end|>`, where
the header names a channel (`analysis` is the chain of thought, `final` the answer, `commentary`
tool calls and preambles) and maybe a recipient (`to=functions.get_weather`). The markers are
special tokens, so the runtime hands them over flagged `special=True` by token id: a model that
writes the characters "<|end|>" inside an answer cannot confuse the parser.

Other reasoning models wrap their thoughts in `<think>…</think>` as plain text;
`ThinkTagParser` handles those, tags split across pieces included.
"""

from __future__ import annotations

from dataclasses import replace

from .events import AnswerDelta, Event, PreambleDelta, ReasoningDelta, ToolCall

# A header longer than this, or one holding a newline, is not a header: the model skipped the
# harmony framing and is simply answering. Real headers are short ("assistant to=functions.x"),
# though a tool's name may take up to 64 characters.
_MAX_HEADER_CHARS = 160
_CONSTRAIN = "<|constrain|>"


class HarmonyParser:
    """Feed it the generated pieces in order; it returns the events each piece completes.

    The prompt ends with `<|start|>assistant`, so generation begins inside a header.
    """

    def __init__(self, in_final: bool = False) -> None:
        """`in_final`: the prompt ends inside a `final` message (an answer being continued)."""
        self._state = "header"  # header | body
        self._role = ""  # header text before <|channel|>
        self._channel = ""  # header text after <|channel|>
        self._in_channel = False
        self._kind = "answer"  # what the current body is: reasoning | answer | tool
        self._call: ToolCall | None = None  # the call being written (arguments still empty)
        self._tool_args: list[str] = []
        if in_final:
            self._channel = "final"
            self._open_body(kind="answer")

    def feed(self, text: str, special: bool = False) -> list[Event]:
        if special:
            return self._marker(text)
        if not text:
            return []
        if self._state == "body":
            return self._body_text(text)
        if self._in_channel:
            self._channel += text
        else:
            self._role += text
        header = self._role + self._channel
        if len(header) > _MAX_HEADER_CHARS or "\n" in header:
            # Not harmony after all: everything so far is answer text.
            self._role = self._channel = ""
            self._open_body(kind="answer")
            return [AnswerDelta(header)]
        return []

    def finish(self, stop: str = "") -> list[Event]:
        """End of stream; `stop`: the end-of-generation token that ended it, if one did (its
        text: `<|call|>` completes a tool call, as `<|return|>` does an answer; a model that
        ends the message with `<|endoftext|>` finished it too). Without one — the length limit,
        Stop — a tool call was cut off and is dropped: its arguments are incomplete."""
        if stop in ("<|call|>", "<|return|>", "<|endoftext|>") and self._state == "body":
            return self._marker(stop)
        header = self._role + self._channel
        if self._state == "header" and header.strip() and not self._in_channel:
            return [AnswerDelta(header)]
        return []

    # -- internals ---------------------------------------------------------------------------

    def _marker(self, marker: str) -> list[Event]:
        if self._state == "header":
            if marker == "<|channel|>":
                self._in_channel = True
            elif marker == _CONSTRAIN:
                if self._in_channel:
                    self._channel += " " + _CONSTRAIN
                else:
                    self._role += " " + _CONSTRAIN
            elif marker == "<|message|>":
                self._open_from_header()
            elif marker == "<|start|>":
                self._reset_header()
            return []
        # In a body.
        if marker in ("<|end|>", "<|call|>", "<|return|>", "<|start|>"):
            events = self._close_body()
            self._reset_header()
            return events
        if marker == "<|channel|>":
            # The model forgot <|end|><|start|>: treat as the start of a new message's channel.
            events = self._close_body()
            self._reset_header()
            self._in_channel = True
            return events
        return []  # <|message|>, <|constrain|> or an unknown special inside a body: ignore

    def _reset_header(self) -> None:
        self._state = "header"
        self._role = self._channel = ""
        self._in_channel = False

    def _open_from_header(self) -> None:
        """Channel, recipient and content type from a header such as `assistant` +
        `commentary to=functions.get_weather <|constrain|>json` (the recipient may stand
        before the channel as well): the recipient is the word after `to=`, the content type
        the last other word, as harmony's own parser reads it."""
        words = self._channel.split()
        channel = words[0] if words else ""
        recipient, others = "", []
        for word in self._role.split() + words[1:]:
            if word.startswith("to="):
                recipient = word[3:]
            elif word != "assistant":
                others.append(word)
        self._call = None
        if recipient:
            kind = "tool"
            content_type = others[-1] if others else ""
            constrained = any(w.startswith(_CONSTRAIN) for w in others)
            self._call = ToolCall(recipient=recipient, arguments="", channel=channel or "commentary",
                                  content_type=content_type.removeprefix(_CONSTRAIN),
                                  constrained=constrained)
        elif channel == "analysis":
            kind = "reasoning"
        elif channel == "commentary":
            kind = "preamble"  # for the user, beside the calls that follow
        else:
            # final, a commentary preamble (meant for the user), or a model that named no channel
            kind = "answer"
        self._open_body(kind)

    def _open_body(self, kind: str) -> None:
        self._state = "body"
        self._kind = kind
        self._tool_args = []

    def _body_text(self, text: str) -> list[Event]:
        if self._kind == "reasoning":
            return [ReasoningDelta(text)]
        if self._kind == "tool":
            self._tool_args.append(text)
            return []
        if self._kind == "preamble":
            return [PreambleDelta(text)]
        return [AnswerDelta(text)]

    def _close_body(self) -> list[Event]:
        if self._kind != "tool" or self._call is None:
            return []
        call = replace(self._call, arguments="".join(self._tool_args))
        self._tool_args = []
        self._call = None
        self._kind = "answer"
        return [call]


class ThinkTagParser:
    """`<think>reasoning</think>answer`, with the tags possibly split across pieces.

    `starts_in_reasoning`: the chat template already opened `<think>` at the end of the prompt
    (DeepSeek-R1 style), so the first generated text is reasoning.
    """

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self, starts_in_reasoning: bool = False) -> None:
        self._thinking = starts_in_reasoning
        self._pending = ""  # text held back because it might be the start of a tag

    def feed(self, text: str, special: bool = False) -> list[Event]:
        self._pending += text
        events: list[Event] = []
        while True:
            tag = self.CLOSE if self._thinking else self.OPEN
            at = self._pending.find(tag)
            if at < 0:
                break
            self._emit(events, self._pending[:at])
            self._pending = self._pending[at + len(tag):]
            self._thinking = not self._thinking
        keep = _partial_suffix(self._pending, self.CLOSE if self._thinking else self.OPEN)
        self._emit(events, self._pending[: len(self._pending) - keep])
        self._pending = self._pending[len(self._pending) - keep:]
        return events

    def finish(self, stop: str = "") -> list[Event]:
        events: list[Event] = []
        self._emit(events, self._pending)
        self._pending = ""
        return events

    def _emit(self, events: list[Event], text: str) -> None:
        if text:
            events.append(ReasoningDelta(text) if self._thinking else AnswerDelta(text))


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def is_harmony_template(template: str | None) -> bool:
    return bool(template) and "<|channel|>" in template


def parser_for(template: str | None, prompt_text: str = ""):
    """The output parser that fits a model's chat template and the prompt just rendered."""
    if is_harmony_template(template):
        tail = prompt_text[prompt_text.rfind("<|start|>"):]
        continuing = "<|channel|>final<|message|>" in tail and not tail.endswith(("<|end|>", "<|return|>"))
        return HarmonyParser(in_final=continuing)
    return ThinkTagParser(starts_in_reasoning=prompt_text.rstrip().endswith("<think>"))
