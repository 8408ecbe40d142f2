"""The server inside the app: API requests and the window's turns share one engine thread,
in the order they come; an API request never changes what the window's next answer says;
the window can see when the server is busy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from fixtures.api_server import serving
from fixtures.tiny_models import HARMONY_GRAMMAR

from app.core.engine_host import EngineHost
from app.core.turns import TurnRequest, run_turn
from inference.sampling import Sampling

ASK = [{"role": "user", "content": "Tell me about the sea."}]


def window_turn(host: EngineHost, text: str) -> tuple[str, str, int]:
    def work(state):
        cid = state.store.conversations.create().id
        result = run_turn(state.store, state.require_engine(), TurnRequest(
            cid, text, effort="low", sampling=Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR)))
        return result.answer, result.reasoning, result.provenance.cached_tokens
    return host.submit(work).result(60)


def test_an_api_request_between_two_turns_changes_nothing_they_say(tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        first = window_turn(host, "What is a harmony?")
        again = window_turn(host, "What is a harmony?")  # the cache holds this very prompt
        client.completions.create(model=tiny_gpt_oss.stem, prompt="<|start|>user<|message|>"
                                  "something else entirely<|end|>", max_tokens=40,
                                  extra_body={"grammar": 'root ::= [a-z ]{1,30}'})
        after = window_turn(host, "What is a harmony?")  # the cache holds the API's prompt
    assert first[:2] == again[:2] == after[:2]
    assert again[2] > after[2]  # the API request did evict most of the window's cache


def test_requests_queue_in_order_and_a_full_queue_says_busy(tiny_gpt_oss):
    seen, order = [], []  # activity as the window would see it; what ran on the engine, in order

    def on_activity(activity):
        seen.append(activity)
        if activity.running:  # said on the engine's thread as the request starts there
            order.append("api")

    with serving(tiny_gpt_oss, max_waiting=1, on_activity=on_activity) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        gate = threading.Event()
        host.submit(lambda state: (gate.wait(30), order.append("window")))  # a long turn

        def ask():
            return client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK,
                                                  extra_body={"grammar": HARMONY_GRAMMAR})

        with ThreadPoolExecutor(2) as pool:
            waiting = pool.submit(ask)
            _wait_for(lambda: server.backend.activity.waiting == 1)
            with pytest.raises(openai.RateLimitError) as busy:
                client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK)
            assert busy.value.body["code"] == "server_busy"
            later = host.submit(lambda state: order.append("window again"))
            gate.set()
            assert waiting.result(60).choices[0].message.content
            later.result(60)
        assert order == ["window", "api", "window again"]
        assert server.backend.activity.running == server.backend.activity.waiting == 0
    assert any(a.waiting == 1 for a in seen) and any(a.running == 1 for a in seen)
    assert seen[-1].running == seen[-1].waiting == 0


def test_a_client_that_leaves_stops_its_answer(tiny_gpt_oss):
    long = (r'root ::= <|channel|> "analysis" <|message|> "x" <|end|> <|start|> "assistant" '
            r'<|channel|> "final" <|message|> ten{300}' + '\nten ::= w{10}\nw ::= [a-z]{1,8} " "\n')
    with serving(tiny_gpt_oss) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        stream = client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK,
                                                stream=True, extra_body={"grammar": long})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        _wait_for(lambda: server.backend.activity.running == 0, timeout=30)
        # It stopped early: run to its end, the answer would have filled the 4096-token context.
        assert host.submit(lambda state: state.engine.cached_tokens).result(30) < 2000


def _wait_for(condition, timeout: float = 30) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("the condition never held")


def test_the_servers_connections_send_without_delay():
    """Bound as TCP by name: asyncio then turns Nagle's algorithm off on every connection it
    accepts (it leaves sockets made with protocol 0 alone), so a keep-alive response is not
    held back waiting for the client's delayed ACK (40 ms a request, measured)."""
    import socket

    from app.core.server.runner import ServerSettings, bind

    listening = bind(ServerSettings("127.0.0.1", 0))
    with listening, socket.create_connection(listening.getsockname()):
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.proto == socket.IPPROTO_TCP
