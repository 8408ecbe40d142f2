"""The remote engine (inference/remote.py) against Hearth's own server over real HTTP: a turn,
its reasoning, its tool calls and its failures behave as they do in-process, in both modes."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from fixtures.api_server import hearth_serve, serving
from fixtures.remote import LONG_GRAMMAR, NOW, turn
from fixtures.tiny_models import calling

from app.core.server.app import create_app
from app.core.server.backend import ApiBackend
from app.core.server.runner import ApiServer, ServerSettings
from app.core.tool_loop import Toolbox
from app.core.tools.calculator import Calculator
from common.errors import UserError
from inference.events import AnswerDelta, ReasoningDelta
from inference.remote import RemoteEngine
from inference.remote_http import EndpointUnauthorized, EndpointUnreachable, RemoteModelNotFound
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

@pytest.fixture(scope="module")
def server(tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (srv, _host):
        yield srv


@pytest.fixture(scope="module")
def local(tiny_gpt_oss):
    engine = Engine(tiny_gpt_oss, LoadOptions(n_ctx=4096, flash_attn=False))
    yield engine
    engine.close()


@pytest.mark.parametrize("mode", ["harmony", "chat"])
def test_a_turn_on_the_remote_engine_answers_as_in_process(store, server, local, tiny_gpt_oss, mode):
    remote = RemoteEngine(server.url, tiny_gpt_oss.stem, mode=mode)
    try:
        assert remote.counting == "server" and remote.n_ctx == local.n_ctx
        # The chat API carries no date: the server writes today's, so the turn does too.
        now = NOW if mode == "harmony" else None
        here = turn(store, local, now=now)
        there = turn(store, remote, now=now)
    finally:
        remote.close()
    assert here.status == there.status == "complete"
    assert (there.answer, there.reasoning) == (here.answer, here.reasoning)
    assert there.answer and there.reasoning
    if mode == "harmony":  # the very same prompt, rendered by Hearth
        assert there.provenance.prompt_sha256 == here.provenance.prompt_sha256
    assert there.provenance.generated_tokens == here.provenance.generated_tokens
    saved = store.messages.get(there.message_id)
    assert (saved.status, saved.content, saved.model_name) == ("complete", there.answer, tiny_gpt_oss.stem)


def test_hearths_server_says_its_model_speaks_harmony(server, tiny_gpt_oss):
    remote = RemoteEngine(server.url, tiny_gpt_oss.stem)  # no mode: the server's word decides
    try:
        assert remote.mode == "harmony" and remote.template.is_harmony
    finally:
        remote.close()


@pytest.mark.parametrize("mode", ["harmony", "chat"])
def test_a_tool_call_round_trip_through_the_remote_engine(store, server, tiny_gpt_oss, mode):
    remote = RemoteEngine(server.url, tiny_gpt_oss.stem, mode=mode)
    grammar = calling("functions.calculator", '{"expression":"6*7"}', or_answer=True)
    try:
        for seed in range(60):
            result = turn(store, remote, "What is six times seven?",
                          Sampling(temperature=1.0, seed=seed, grammar=grammar),
                          toolbox=Toolbox([Calculator()], max_steps=8))
            calls = store.tool_calls.for_message(result.message_id)
            if len(calls) == 1 and result.answer:
                break
        else:
            pytest.fail("no seed in 60 gave one call and then an answer")
    finally:
        remote.close()
    (call,) = calls
    assert (call.recipient, call.arguments, call.status, call.result) == (
        "functions.calculator", '{"expression":"6*7"}', "done", "42")
    assert result.status == "complete"


def test_a_dropped_connection_keeps_the_partial_answer_and_says_so(store, tiny_gpt_oss):
    with hearth_serve(tiny_gpt_oss) as (proc, url):
        remote = RemoteEngine(url, tiny_gpt_oss.stem, mode="harmony")
        killed = []

        def on_event(event):
            if isinstance(event, AnswerDelta) and not killed:
                os.kill(proc.pid, signal.SIGKILL)  # the server dies mid-answer
                killed.append(True)
        try:
            result = turn(store, remote, sampling=Sampling(temperature=0.0, grammar=LONG_GRAMMAR),
                          on_event=on_event)
        finally:
            remote.close()
    assert killed
    assert result.status == "failed"
    assert "connection" in result.error and "kept" in result.error
    assert result.reasoning == "thinking" and result.answer  # what came before the drop
    saved = store.messages.get(result.message_id)
    assert (saved.status, saved.content, saved.error) == ("failed", result.answer, result.error)


def test_stop_ends_a_remote_answer_at_once(store, server, tiny_gpt_oss):
    remote = RemoteEngine(server.url, tiny_gpt_oss.stem, mode="harmony")
    cancel = threading.Event()
    try:
        result = turn(store, remote, sampling=Sampling(temperature=0.0, grammar=LONG_GRAMMAR),
                      cancel=cancel,
                      on_event=lambda e: isinstance(e, AnswerDelta) and cancel.set())
    finally:
        remote.close()
    assert result.status == "cancelled" and result.answer
    assert len(result.answer.split()) < 600  # it did not run to the end


def test_failures_are_named_plainly(server, tiny_gpt_oss, unused_port):
    with pytest.raises(EndpointUnreachable, match="Cannot reach 127.0.0.1"):
        RemoteEngine(f"http://127.0.0.1:{unused_port}/v1", "anything")
    with pytest.raises(RemoteModelNotFound, match=f"does not serve 'gpt-9'.*{tiny_gpt_oss.stem}"):
        RemoteEngine(server.url, "gpt-9")
    with pytest.raises(UserError, match="not an endpoint address"):
        RemoteEngine("ftp://example.com", "x")


def test_a_wrong_key_is_refused_without_repeating_it(tiny_gpt_oss):
    with serving(tiny_gpt_oss, api_key="sk-right-0042") as (srv, _host):
        with pytest.raises(EndpointUnauthorized) as refused:
            RemoteEngine(srv.url, tiny_gpt_oss.stem, api_key="sk-wrong-0042")
        assert "sk-" not in str(refused.value)
        engine = RemoteEngine(srv.url, tiny_gpt_oss.stem, api_key="sk-right-0042")
        assert "sk-right" not in repr(engine.connection)
        engine.close()


def test_without_a_tokenizer_endpoint_counts_are_estimated_and_said(store, tiny_gpt_oss):
    """A server with no /tokenize (Ollama, LM Studio, OpenRouter): an estimate, said."""
    with serving(tiny_gpt_oss) as (srv, host):
        app = create_app(ApiBackend(host))
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") != "/tokenize"]
        bare = ApiServer(ApiBackend(host), ServerSettings("127.0.0.1", 0), app=app)
        bare.start()
        try:
            remote = RemoteEngine(bare.url, tiny_gpt_oss.stem, mode="harmony")
            assert remote.counting == "estimate" and "estimates" in remote.template_warning
            result = turn(store, remote)
            remote.close()
        finally:
            bare.stop()
    assert result.status == "complete" and result.answer


def test_reasoning_streams_as_it_comes(store, server, tiny_gpt_oss):
    remote = RemoteEngine(server.url, tiny_gpt_oss.stem, mode="chat")
    events = []
    try:
        turn(store, remote, on_event=events.append)
    finally:
        remote.close()
    kinds = [type(e) for e in events]
    assert ReasoningDelta in kinds and AnswerDelta in kinds
    assert kinds.index(ReasoningDelta) < kinds.index(AnswerDelta)


class RefusesEffort:
    """Hearth's API behind a gate that refuses `reasoning_effort` with a 400, as OpenAI does
    for a model that does not reason."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if b"reasoning_effort" in body:
            from starlette.responses import JSONResponse

            refusal = JSONResponse({"error": {
                "message": "Unsupported parameter: 'reasoning_effort' is not supported with "
                           "this model.", "type": "invalid_request_error",
                "param": "reasoning_effort", "code": "unsupported_parameter"}}, status_code=400)
            return await refusal(scope, receive, send)
        replayed = [False]

        async def again():
            if not replayed[0]:
                replayed[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return await self.app(scope, again, send)


def test_a_server_that_refuses_the_effort_is_asked_again_without_it(store, tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (srv, host):
        gated = ApiServer(ApiBackend(host), ServerSettings("127.0.0.1", 0),
                          app=RefusesEffort(create_app(ApiBackend(host))))
        gated.start()
        try:
            remote = RemoteEngine(gated.url, tiny_gpt_oss.stem, mode="chat")
            first = turn(store, remote)
            second = turn(store, remote)  # remembered: asked without it straight away
            remote.close()
        finally:
            gated.stop()
    assert first.status == second.status == "complete" and first.answer


def test_stop_before_the_server_begins_answering(store, tiny_gpt_oss):
    """The server is busy (its engine thread holds another request): Stop still ends the
    turn at once, and the engine works again after."""
    with serving(tiny_gpt_oss) as (srv, host):
        remote = RemoteEngine(srv.url, tiny_gpt_oss.stem, mode="harmony")
        gate, cancel = threading.Event(), threading.Event()
        busy = host.submit(lambda state: gate.wait(60))  # someone else's long answer
        threading.Timer(0.5, cancel.set).start()
        try:
            stopped = turn(store, remote, cancel=cancel)
            assert not busy.done()  # it returned while the server still had not begun
            gate.set()
            again = turn(store, remote)
        finally:
            gate.set()
            remote.close()
    assert stopped.status == "cancelled" and not stopped.answer
    assert again.status == "complete" and again.answer
