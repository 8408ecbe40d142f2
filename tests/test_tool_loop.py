"""The tool loop inside one turn, end to end on real llama.cpp: the tiny gpt-oss, made by a
grammar to call a tool, has its call parsed, run, stored and rendered back, and goes on
until it answers, is stopped, or reaches the step limit."""

from __future__ import annotations

import threading
import time

import pytest
from fixtures.tiny_models import HARMONY_GRAMMAR, calling
from fixtures.tool_turns import ask, called

from app.core import provenance, requests
from app.core.tool_loop import Approvals, Toolbox, ToolFinished, ToolStarted
from app.core.tools.base import ToolOutput, ToolSpec
from app.core.tools.calculator import Calculator
from app.core.turns import TurnRequest, history_for, run_turn
from inference.events import ToolCall
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

@pytest.fixture(scope="module")
def engine(tiny_gpt_oss):
    e = Engine(tiny_gpt_oss, LoadOptions(n_ctx=4096, flash_attn=False))
    yield e
    e.close()


def one_call_then_answer(store, engine, grammar: str, **kwargs):
    """Seeds are tried until the random weights call once, then answer."""
    for seed in range(60):
        result, events, calls = ask(store, engine, grammar, seed=seed, **kwargs)
        if len(calls) == 1 and result.answer:
            return result, events, calls
    pytest.fail("no seed in 60 gave one call and then an answer")


def test_a_call_is_run_stored_and_rendered_back_then_the_model_answers(store, engine):
    result, events, calls = one_call_then_answer(
        store, engine, calling("functions.calculator", '{"expression":"6*7"}', or_answer=True))
    (call,) = calls
    assert (call.recipient, call.arguments, call.status, call.result) == (
        "functions.calculator", '{"expression":"6*7"}', "done", "42")
    assert call.reasoning and call.call_id and call.duration_s is not None
    assert result.status == "complete" and result.answer
    kinds = [type(e) for e in events]
    assert kinds.index(ToolCall) < kinds.index(ToolStarted) < kinds.index(ToolFinished)
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert (finished.status, finished.result) == ("done", "42")
    # The next turn sees the call and its result, rendered as harmony renders them.
    history = history_for(store, store.messages.get(result.message_id).conversation_id, -1)
    text = engine.render(history, "low", **Toolbox([Calculator()]).render_options())
    assert ('<|start|>assistant to=functions.calculator<|channel|>commentary <|constrain|>json'
            '<|message|>{"expression":"6*7"}<|call|>') in text
    assert "<|start|>functions.calculator to=assistant<|channel|>commentary<|message|>42<|end|>" in text
    assert "namespace functions" in text and "type calculator" in text


def test_the_loop_is_bounded_and_the_model_is_told_to_answer(store, engine):
    result, events, calls = called(store, engine, calling("functions.calculator", '{"expression":"1+1"}'),
                                max_steps=3)
    assert [c.status for c in calls] == ["done", "done", "done", "error", "error"]
    assert "answer the user now" in calls[3].result
    assert result.status == "complete"  # ended, not hung: the model kept calling after being told


@pytest.mark.parametrize("recipient, arguments, says", [
    ("functions.calculator", '{"expression": 6*7}', "not valid JSON"),
    ("functions.calculator", '{"expr":"6*7"}', "'expression' is a required property"),
    ("functions.calculator", '{"expression":"__import__(1)"}', "Unknown function __import__()"),
    ("functions.nonexistent", "{}", "There is no tool 'functions.nonexistent'"),
])
def test_bad_calls_are_answered_to_the_model_never_raised(store, engine, recipient, arguments, says):
    result, _, calls = called(store, engine, calling(recipient, arguments), max_steps=1)
    assert calls[0].status == "error" and says in calls[0].result
    assert result.status == "complete" and result.error is None


class Slow:
    spec = ToolSpec(name="slow", description="Takes its time.", parameters={"type": "object"})

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, threading.Event()

    def run(self, arguments, context):
        self.started.set()
        end = time.monotonic() + self.seconds
        while time.monotonic() < end and not context.cancel.is_set():
            time.sleep(0.01)
        return ToolOutput("finally")

    def close(self):
        pass


class Broken:
    spec = ToolSpec(name="broken", description="Fails.", parameters={"type": "object"})

    def run(self, arguments, context):
        raise KeyError("a bug in the tool")

    def close(self):
        pass


class Chatty:
    spec = ToolSpec(name="chatty", description="Says too much.", parameters={"type": "object"})

    def run(self, arguments, context):
        return ToolOutput("x" * 100_000)

    def close(self):
        pass


def test_a_tool_that_raises_times_out_or_says_too_much_is_answered(store, engine):
    _, _, calls = called(store, engine, calling("functions.broken", "{}"), tools=[Broken()], max_steps=1)
    assert calls[0].status == "error" and "KeyError" in calls[0].result
    _, _, calls = called(store, engine, calling("functions.slow", "{}"), tools=[Slow(30)], max_steps=1,
                      timeout_s=0.3)
    assert calls[0].status == "error" and "did not answer within" in calls[0].result
    _, _, calls = called(store, engine, calling("functions.chatty", "{}"), tools=[Chatty()], max_steps=1)
    assert calls[0].status == "done" and len(calls[0].result) < 17_000
    assert "more characters were left out" in calls[0].result


def test_stop_during_a_tool_run_ends_the_turn_with_the_call_marked(store, engine):
    slow, cancel = Slow(30), threading.Event()
    threading.Thread(target=lambda: (slow.started.wait(10), cancel.set()), daemon=True).start()
    result, _, calls = called(store, engine, calling("functions.slow", "{}"), tools=[slow], cancel=cancel)
    assert result.status == "cancelled"
    assert [c.status for c in calls] == ["cancelled"]


class Sensitive:
    spec = ToolSpec(name="sensitive", description="Needs a yes.", parameters={"type": "object"},
                    approval="ask")

    def __init__(self):
        self.runs = 0

    def run(self, arguments, context):
        self.runs += 1
        return ToolOutput("did it")

    def close(self):
        pass


def test_approval_deny_once_and_for_the_chat(store, engine):
    tool, asked = Sensitive(), []
    grammar = calling("functions.sensitive", "{}")

    def answer(decision):
        return Approvals(ask=lambda request: (asked.append(request.call.recipient), decision)[1])

    _, _, calls = called(store, engine, grammar, tools=[tool], max_steps=1, approvals=answer("deny"))
    assert calls[0].status == "denied" and tool.runs == 0 and "did not allow" in calls[0].result
    _, _, calls = called(store, engine, grammar, tools=[tool], max_steps=1, approvals=answer("once"))
    assert calls[0].status == "done" and tool.runs == 1
    remembered = []
    approvals = Approvals(ask=lambda request: (asked.append("chat"), "chat")[1],
                          remember=lambda recipient, how: remembered.append((recipient, how)))
    _, _, calls = called(store, engine, grammar, tools=[tool], max_steps=2, approvals=approvals)
    assert asked.count("chat") == 1  # asked once, then allowed for the chat
    assert remembered == [("functions.sensitive", "chat")] and tool.runs == 3
    _, _, calls = called(store, engine, grammar, tools=[tool], max_steps=1, approvals=None)
    assert calls[0].status == "denied"  # nobody to ask: not run


def test_every_call_is_on_disk_while_the_tool_runs(store, engine):
    from storage import Store

    seen = {}

    class Peek:
        spec = ToolSpec(name="peek", description="Looks.", parameters={"type": "object"})

        def run(self, arguments, context):
            with Store(store.path) as other:  # another connection, as after a crash
                chat = other.conversations.list()[0]
                answer = other.messages.list_for(chat.id)[-1]
                seen["calls"] = [(c.recipient, c.status) for c in other.tool_calls.for_message(answer.id)]
            return ToolOutput("ok")

        def close(self):
            pass

    called(store, engine, calling("functions.peek", "{}"), tools=[Peek()], max_steps=1)
    assert seen["calls"] == [("functions.peek", "running")]


def test_rerun_exactly_replays_the_stored_results_without_running_tools(store, engine):
    counter = Sensitive()
    counter.spec = ToolSpec(name="sensitive", description="Counts.", parameters={"type": "object"})
    grammar = calling("functions.sensitive", "{}", or_answer=True)
    result, _, calls = one_call_then_answer(store, engine, grammar, tools=[counter])
    runs = counter.runs
    replay = requests.replay_request(store, result.message_id)
    again = run_turn(store, engine, replay, toolbox=Toolbox([counter]))
    assert counter.runs == runs  # answered from the stored result
    assert again.provenance.rerun_outcome == "identical"
    assert [c.status for c in store.tool_calls.for_message(again.message_id)] == ["replayed"]
    assert [c.result for c in store.tool_calls.for_message(again.message_id)] == [c.result for c in calls]
    assert provenance.of(store.messages.get(again.message_id)).tools == result.provenance.tools


def test_a_model_without_tools_calling_one_hears_there_are_none(store, engine):
    result, _, calls = called(store, engine, calling("functions.calculator", '{"expression":"1"}'),
                           tools=(), max_steps=1)
    assert calls[0].status == "error" and "Available tools: none" in calls[0].result


def test_plain_harmony_answers_are_unchanged_by_an_offered_toolbox(store, engine):
    result, events, calls = ask(store, engine, HARMONY_GRAMMAR)
    assert calls == [] and result.status == "complete" and result.answer
    assert not any(isinstance(e, (ToolStarted, ToolFinished)) for e in events)


def test_gpt_oss_python_tool_runs_through_the_loop_with_approval(store, engine):
    from app.core.tools.python_tool import PythonTool

    grammar = "\n".join([
        'root ::= analysis <|start|> "assistant" call',
        'analysis ::= <|channel|> "analysis" <|message|> [a-z]{1,8} <|end|>',
        'call ::= <|channel|> "analysis to=python code" <|message|> "x = 6 * 7\\nx"', ""])
    tool, asked = PythonTool(), []
    try:
        result, _, calls = called(store, engine, grammar, tools=[tool], max_steps=1,
                                  approvals=Approvals(ask=lambda r: (asked.append(r.spec.name), "once")[1]))
    finally:
        tool.close()
    assert asked and asked[0] == "python"
    assert (calls[0].recipient, calls[0].channel, calls[0].content_type) == ("python", "analysis", "code")
    assert calls[0].status == "done" and calls[0].result.strip().endswith("42")


def test_argument_checks_never_fetch_a_schema_from_the_network():
    """jsonschema fetches a remote $ref by default; a tool's schema must not make us connect."""
    import socket
    import sys

    from app.core.tool_loop import parse_arguments

    attempts = []

    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo"):
            attempts.append(args)
    sys.addaudithook(hook)
    spec = ToolSpec(name="remote", description="", parameters={
        "type": "object", "properties": {"x": {"$ref": "http://192.0.2.1/schema.json"}}})
    call = ToolCall("functions.remote", '{"x": 1}')
    try:
        parse_arguments(call, spec)
    except Exception:
        pass  # refusing is fine; reaching out is not
    assert attempts == [] and socket is not None


def test_document_search_returns_citable_passages_that_open(store, engine, tmp_path):
    from app.core import documents
    from app.core.library import sources
    from app.core.tools.documents_tool import DocumentSearch

    notes = tmp_path / "notes.txt"
    notes.write_text("Shopping list: apples.\n\nThe launch code is 4471-ALPHA, kept in the safe.\n")
    documents.ingest(store, notes)
    result, _, calls = called(store, engine, calling("functions.search_documents",
                                                     '{"query":"launch code"}'),
                              tools=[DocumentSearch()], max_steps=1)
    assert calls[0].status == "done" and "[1] notes.txt" in calls[0].result
    assert "4471-ALPHA" in calls[0].result
    made = provenance.of(store.messages.get(result.message_id))
    assert [c["key"] for c in made.citations] == [1]
    found = sources.of_citation(store, result.message_id, 1)
    label, text = found.label, found.text
    assert label.startswith("notes.txt") and "4471-ALPHA" in text
