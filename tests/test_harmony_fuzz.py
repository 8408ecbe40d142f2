"""Fuzzing the output parsers (inference/harmony.py): whatever a model emits — text and control
markers in any order, split anywhere, invalid UTF-8 — gives events or a clean end, never an
exception, and in time linear in the stream (the parsers' buffers stay bounded)."""

from __future__ import annotations

import codecs

from hypothesis import HealthCheck, given, settings, strategies as st

from inference.events import AnswerDelta, ReasoningDelta, ToolCall
from inference.harmony import _MAX_HEADER_CHARS, HarmonyParser, ThinkTagParser, parser_for

MARKERS = ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|call|>",
           "<|return|>", "<|endoftext|>", "<|startoftext|>", "<|unknown|>", ""]
WORDS = ["analysis", "final", "commentary", "assistant", " to=functions.f", " json", "to=",
         "<think>", "</think>", "<think", "</think", "</thi", "<thi", "nk>", "k>", "</", "<", ">",
         "\n", "{\"a\": 1}", "\ufffd"]

# A generated token is bytes; the runtime decodes them incrementally, invalid UTF-8 replaced
# (inference/runtime.py, Engine.generate): bytes here go through the same decoder.
raw_text = st.one_of(st.binary(max_size=12), st.sampled_from(WORDS).map(str.encode))
pieces = st.lists(st.one_of(raw_text.map(lambda b: ("text", b)),
                            st.sampled_from(MARKERS).map(lambda m: ("special", m)),
                            st.binary(max_size=8).map(lambda b: ("special", b))),
                  max_size=60)



@st.composite
def cut_text(draw):
    """Words and tags joined, then cut anywhere: every tag split at every point."""
    whole = "".join(draw(st.lists(st.sampled_from(WORDS + ["<think>", "</think>"] * 4), max_size=30)))
    points = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=12)))
    return [("text", whole[a:b].encode()) for a, b in zip([0] + points, points + [len(whole)])]


FUZZ = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def decoded(stream):
    """(text, special) pairs as Engine.generate yields them."""
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for kind, value in stream:
        if kind == "special":
            tail = utf8.decode(b"", final=True)
            utf8.reset()
            if tail:
                yield tail, False
            yield (value if isinstance(value, str) else value.decode("utf-8", "replace")), True
        else:
            text = utf8.decode(value)
            if text:
                yield text, False
    tail = utf8.decode(b"", final=True)
    if tail:
        yield tail, False


def run(parser, stream) -> list:
    events = []
    for text, special in decoded(stream):
        events += parser.feed(text, special)
        assert_bounded(parser)
    events += parser.finish()
    for event in events:
        assert isinstance(event, (AnswerDelta, ReasoningDelta, ToolCall))
        if isinstance(event, ToolCall):
            assert isinstance(event.name, str) and isinstance(event.arguments, str)
        else:
            assert isinstance(event.text, str) and event.text
    return events


def assert_bounded(parser) -> None:
    """What the parser holds back between pieces: the witness that its work per piece does
    not grow with the stream."""
    if isinstance(parser, ThinkTagParser):
        assert len(parser._pending) < len(ThinkTagParser.CLOSE)
    elif parser._state == "header" and not parser._channel.count("<|constrain|>"):
        assert len(parser._role) + len(parser._channel) <= _MAX_HEADER_CHARS


@FUZZ
@given(pieces, st.booleans())
def test_harmony_parser_takes_any_stream(stream, in_final):
    run(HarmonyParser(in_final=in_final), stream)


@FUZZ
@given(st.one_of(pieces, cut_text()), st.booleans())
def test_think_parser_takes_any_stream_and_loses_no_text(stream, starts_in_reasoning):
    events = run(ThinkTagParser(starts_in_reasoning), stream)
    given_text = "".join(text for text, _ in decoded(stream))
    said = "".join(e.text for e in events)
    assert _tags_removed(given_text, said, starts_in_reasoning)


def _tags_removed(original: str, said: str, thinking: bool) -> bool:
    """`said` is `original` with exactly the toggling tags cut out."""
    out, rest = [], original
    while True:
        tag = "</think>" if thinking else "<think>"
        at = rest.find(tag)
        if at < 0:
            return "".join(out) + rest == said
        out.append(rest[:at])
        rest = rest[at + len(tag):]
        thinking = not thinking


@FUZZ
@given(st.text(max_size=200), st.text(max_size=200), pieces)
def test_parser_choice_takes_any_template_and_prompt(template, prompt_text, stream):
    run(parser_for(template, prompt_text), stream)
    run(parser_for("<|channel|>" + template, prompt_text), stream)


def test_a_long_adversarial_stream_keeps_the_buffers_bounded():
    """90,000 pieces that keep a parser guessing (partial tags, markers out of order)."""
    stream = [("text", b"<thi"), ("text", b"</th"), ("special", "<|channel|>"), ("text", b"<"),
              ("special", "<|start|>"), ("text", b"assistant"), ("special", "<|message|>"),
              ("text", b"x" * 50), ("special", "<|constrain|>")] * 10_000
    for parser in (HarmonyParser(), ThinkTagParser(), ThinkTagParser(True)):
        assert run(parser, stream)
