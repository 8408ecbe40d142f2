"""The output parsers: harmony by token, <think> tags by text; any split gives the same events."""

import pytest
from hypothesis import given, settings, strategies as st

from inference.events import AnswerDelta, PreambleDelta, ReasoningDelta, ToolCall
from inference.harmony import HarmonyParser, ThinkTagParser, parser_for

S = "special"


def run(parser, pieces):
    events = []
    for piece in pieces:
        if isinstance(piece, tuple):
            events += parser.feed(piece[1], special=True)
        else:
            events += parser.feed(piece)
    return merge(events + parser.finish())


def merge(events):
    """Adjacent deltas of one kind joined: what a reader of the stream sees."""
    out = []
    for e in events:
        if out and type(e) is type(out[-1]) and isinstance(e, (AnswerDelta, PreambleDelta, ReasoningDelta)):
            out[-1] = type(e)(out[-1].text + e.text)
        else:
            out.append(e)
    return out


def sp(marker):
    return (S, marker)


GPT_OSS_ANSWER = [
    sp("<|channel|>"), "analysis", sp("<|message|>"), "User asks 2+2. Easy: 4.", sp("<|end|>"),
    sp("<|start|>"), "assistant", sp("<|channel|>"), "final", sp("<|message|>"), "2 + 2 = **4**.",
]


def test_reasoning_then_answer():
    assert run(HarmonyParser(), GPT_OSS_ANSWER) == [
        ReasoningDelta("User asks 2+2. Easy: 4."), AnswerDelta("2 + 2 = **4**.")]


def test_tool_call_with_recipient_in_channel_header():
    pieces = [sp("<|channel|>"), "analysis", sp("<|message|>"), "Need weather.", sp("<|end|>"),
              sp("<|start|>"), "assistant", sp("<|channel|>"), "commentary to=functions.get_weather ",
              sp("<|constrain|>"), "json", sp("<|message|>"), '{"city":', ' "Oslo"}', sp("<|call|>")]
    call = ToolCall(recipient="functions.get_weather", arguments='{"city": "Oslo"}',
                    channel="commentary", content_type="json", constrained=True)
    assert run(HarmonyParser(), pieces) == [ReasoningDelta("Need weather."), call]
    assert call.name == "get_weather"


def test_tool_call_with_recipient_in_role_header():
    """harmony renders calls this way round (`assistant to=…<|channel|>commentary`)."""
    pieces = [" to=functions.lookup", sp("<|channel|>"), "commentary json", sp("<|message|>"),
              "{}", sp("<|call|>")]
    assert run(HarmonyParser(), pieces) == [
        ToolCall("functions.lookup", "{}", "commentary", content_type="json", constrained=False)]


@pytest.mark.parametrize("header, recipient, channel, content_type, constrained", [
    (["commentary to=functions.f", sp("<|constrain|>"), "json"], "functions.f", "commentary", "json", True),
    (["analysis to=browser.search code"], "browser.search", "analysis", "code", False),
    (["analysis to=python code"], "python", "analysis", "code", False),
    (["analysis to=python"], "python", "analysis", "", False),
    (["commentary to=functions.a_tool_with_a_rather_long_name_as_mcp_servers_often_give_them ",
      sp("<|constrain|>"), "json"],
     "functions.a_tool_with_a_rather_long_name_as_mcp_servers_often_give_them", "commentary", "json", True),
])
def test_tool_call_header_fields(header, recipient, channel, content_type, constrained):
    """Recipient, channel and content type come out as the header wrote them."""
    pieces = [sp("<|channel|>"), *header, sp("<|message|>"), "print(1)\n", sp("<|call|>")]
    assert run(HarmonyParser(), pieces) == [
        ToolCall(recipient, "print(1)\n", channel, content_type=content_type, constrained=constrained)]


def test_call_ended_by_the_stop_token_is_complete():
    """Generation stops *at* `<|call|>` (an end-of-generation token the runtime does not hand
    over as a piece): finish() with that stop token completes the call; without it the call
    was cut off."""
    pieces = [sp("<|channel|>"), "commentary to=functions.f ", sp("<|constrain|>"), "json",
              sp("<|message|>"), '{"a": 1}']
    parser = HarmonyParser()
    events = [e for p in pieces for e in (parser.feed(p[1], True) if isinstance(p, tuple) else parser.feed(p))]
    assert events == []
    assert parser.finish("<|call|>") == [ToolCall("functions.f", '{"a": 1}', "commentary")]
    cut = HarmonyParser()
    for p in pieces:
        cut.feed(p[1], True) if isinstance(p, tuple) else cut.feed(p)
    assert cut.finish() == []


def test_cut_off_tool_call_is_dropped_not_half_emitted():
    pieces = [sp("<|channel|>"), "commentary to=functions.f", sp("<|message|>"), '{"a":']
    assert run(HarmonyParser(), pieces) == []


def test_marker_text_inside_an_answer_is_text_not_a_marker():
    pieces = [sp("<|channel|>"), "final", sp("<|message|>"), "Harmony ends messages with <|end|>."]
    assert run(HarmonyParser(), pieces) == [AnswerDelta("Harmony ends messages with <|end|>.")]


def test_plain_text_from_a_model_that_ignores_harmony_is_the_answer():
    assert run(HarmonyParser(), ["Hello", " there"]) == [AnswerDelta("Hello there")]
    long = "x" * 200
    assert run(HarmonyParser(), [long]) == [AnswerDelta(long)]


def test_missing_end_before_next_channel_still_switches():
    pieces = [sp("<|channel|>"), "analysis", sp("<|message|>"), "think", sp("<|channel|>"), "final",
              sp("<|message|>"), "answer"]
    assert run(HarmonyParser(), pieces) == [ReasoningDelta("think"), AnswerDelta("answer")]


def test_think_tags():
    assert run(ThinkTagParser(), ["<think>", "hmm", "</think>", "Yes."]) == [
        ReasoningDelta("hmm"), AnswerDelta("Yes.")]
    assert run(ThinkTagParser(starts_in_reasoning=True), ["a", "</thi", "nk>b"]) == [
        ReasoningDelta("a"), AnswerDelta("b")]
    assert run(ThinkTagParser(), ["a < b <thin"]) == [AnswerDelta("a < b <thin")]


def test_parser_choice_follows_the_template():
    assert isinstance(parser_for("...<|channel|>..."), HarmonyParser)
    think = parser_for("{{ messages }}", prompt_text="<|im_start|>assistant\n<think>\n")
    assert run(think, ["x</think>y"]) == [ReasoningDelta("x"), AnswerDelta("y")]


def splits(pieces):
    """Every text piece cut at random points; markers stay whole (they are single tokens)."""
    def cut(text):
        return st.lists(st.integers(0, len(text)), max_size=6).map(
            lambda points: [text[a:b] for a, b in zip([0] + sorted(points), sorted(points) + [len(text)])])
    parts = [st.just([p]) if isinstance(p, tuple) else cut(p) for p in pieces]
    return st.tuples(*parts).map(lambda groups: [x for g in groups for x in g])


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
segment = st.tuples(st.sampled_from(["analysis", "final", "commentary", "commentary to=functions.f"]), text)


@st.composite
def harmony_streams(draw):
    pieces = []
    for i, (channel, body) in enumerate(draw(st.lists(segment, min_size=1, max_size=4))):
        if i:
            pieces += [sp("<|start|>"), "assistant"]
        pieces += [sp("<|channel|>"), channel, sp("<|message|>"), body]
        pieces.append(sp(draw(st.sampled_from(["<|end|>", "<|call|>"]))))
    return pieces


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_split_of_a_harmony_stream_gives_the_same_events(data):
    pieces = data.draw(harmony_streams())
    whole = run(HarmonyParser(), pieces)
    assert run(HarmonyParser(), data.draw(splits(pieces))) == whole


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(text, st.sampled_from(["<think>", "</think>"])), max_size=8), st.data())
def test_any_split_of_a_think_stream_gives_the_same_events(parts, data):
    stream = "".join(parts)
    whole = run(ThinkTagParser(), [stream])
    assert run(ThinkTagParser(), data.draw(splits([stream]))) == whole
