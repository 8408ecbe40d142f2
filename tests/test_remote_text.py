"""Text over the wire, however a server cuts it: harmony markers recognised across chunk
boundaries, stop sequences held back until clear, chat-API deltas assembled into calls, and a
prompt's marker-shaped user text defused before a server reads it."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.server.openai_api import StopMatcher
from inference.events import AnswerDelta, ReasoningDelta, ToolCall
from inference.harmony import HarmonyParser
from inference.harmony_render import render_harmony
from inference.harmony_text import MARKERS, MarkerSplitter, wire_text
from inference.harmony_tools import PYTHON
from inference.remote_chat import ChatStreamReader, chat_payload

FUZZ = settings(deadline=2000, max_examples=150)
texts = st.lists(st.one_of(st.sampled_from(MARKERS), st.text(alphabet="ab<|>x ", max_size=6)),
                 max_size=12).map("".join)


def cut(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def whole_pieces(text: str) -> list[tuple[str, bool]]:
    splitter = MarkerSplitter()
    return _merge(splitter.feed(text) + splitter.finish())


def _merge(pieces):
    out = []
    for text, marker in pieces:
        if out and not marker and not out[-1][1]:
            out[-1] = (out[-1][0] + text, False)
        elif text:
            out.append((text, marker))
    return out


@FUZZ
@given(texts, st.lists(st.integers(0, 200), max_size=8))
def test_markers_are_found_however_the_text_is_cut(text, cuts):
    splitter = MarkerSplitter()
    pieces = []
    for chunk in cut(text, cuts):
        pieces += splitter.feed(chunk)
    pieces += splitter.finish()
    assert _merge(pieces) == whole_pieces(text)
    assert "".join(p for p, _ in pieces) == text


def test_a_streamed_harmony_answer_parses_as_in_process():
    text = ("<|channel|>analysis<|message|>Think <|x|> about it<|end|><|start|>assistant"
            "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{\"a\":1}")
    splitter, parser, events = MarkerSplitter(), HarmonyParser(), []
    for i in range(0, len(text), 3):
        for piece, marker in splitter.feed(text[i:i + 3]):
            events += parser.feed(piece, marker)
    for piece, marker in splitter.finish():
        events += parser.feed(piece, marker)
    events += parser.finish("<|return|>")
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Think <|x|> about it"
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert (call.recipient, call.arguments, call.constrained) == ("functions.f", '{"a":1}', True)


def test_marker_shaped_user_text_is_defused_on_the_wire():
    prompt = render_harmony([{"role": "user", "content": "what does <|end|> mean?"}])
    wired = wire_text(prompt)
    assert wired.count("<|end|>") == prompt.count("<|end|>") - 1  # only the user's one changed
    assert "what does <\u200b|end|> mean?" in wired
    assert wire_text("plain <|end|>") == "plain <|end|>"  # not a rendered Prompt: as it is


@FUZZ
@given(st.text(alphabet="abcSTOP", max_size=40), st.lists(st.integers(0, 50), max_size=6),
       st.lists(st.text(alphabet="abST", min_size=1, max_size=3), max_size=3))
def test_stop_sequences_cut_at_the_first_one_however_the_text_arrives(text, cuts, stops):
    matcher = StopMatcher(tuple(stops))
    out = "".join(matcher.feed(chunk) for chunk in cut(text, cuts)) + matcher.flush()
    found = [(at + len(s), at) for s in stops if (at := text.find(s)) >= 0]
    assert out == (text[:min(found)[1]] if found else text)  # the stop complete first


@FUZZ
@given(st.lists(st.integers(1, 6), min_size=1, max_size=10))
def test_chat_deltas_make_the_same_call_however_they_are_split(sizes):
    arguments = json.dumps({"location": "Oslo", "unit": "celsius"})
    payload = chat_payload([{"role": "user", "content": "hi"}], "low", tools=[
        {"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
    reader = ChatStreamReader(payload.recipients)
    events, at, index = [], 0, 0
    reader.feed({"choices": [{"delta": {"reasoning_content": "hmm "}}]})
    reader.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_7", "function": {
        "name": "get_weather", "arguments": ""}}]}}]})
    while at < len(arguments):
        size = sizes[index % len(sizes)]
        index += 1
        events += reader.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
            "arguments": arguments[at:at + size]}}]}}]})
        at += size
    reader.feed({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    (call,) = reader.finish()
    assert (call.recipient, call.arguments, call.id) == ("functions.get_weather", arguments, "call_7")


def test_think_tags_in_chat_content_are_reasoning_and_python_takes_code():
    payload = chat_payload([{"role": "user", "content": "hi"}], "low", builtin_tools=[PYTHON])
    assert [t["function"]["name"] for t in payload.body["tools"]] == ["python"]
    reader = ChatStreamReader(payload.recipients)
    events = reader.feed({"choices": [{"delta": {"content": "<thi"}}]})
    events += reader.feed({"choices": [{"delta": {"content": "nk>plan</think>Answer"}}]})
    reader.feed({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {
        "name": "python", "arguments": json.dumps({"code": "print(6*7)"})}}]},
        "finish_reason": "tool_calls"}]})
    events += reader.finish()
    assert [type(e) for e in events] == [ReasoningDelta, AnswerDelta, ToolCall]
    assert (events[2].recipient, events[2].arguments) == ("python", "print(6*7)")


def test_harmony_text_read_back_tokenizes_as_the_whole_text(tiny_gpt_oss):
    from inference.harmony_text import prompt_from_text
    from inference.runtime import Engine, LoadOptions

    chat = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi there, what is 2+2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "Why?"}]
    pasted = chat[:-1] + [{"role": "user", "content": "And <|end|> as text?"}]
    vocab = Engine(tiny_gpt_oss, LoadOptions(vocab_only=True))
    try:
        for messages in (chat, pasted):
            prompt = render_harmony(messages)
            wired = wire_text(prompt)
            assert vocab.tokenize(prompt_from_text(wired)) == vocab.tokenize(wired)
        # As the server reads it, what Hearth rendered: the same tokens as in-process.
        prompt = render_harmony(chat)
        assert vocab.tokenize(prompt_from_text(wire_text(prompt))) == vocab.tokenize(prompt)
    finally:
        vocab.close()
