"""Other apps' conversations kept as chats (Settings → Local server, `hearth serve
--record-chats`): off by default; on, each chat request becomes a chat holding the messages
sent and the answer exactly as the client received it."""

from __future__ import annotations

import time

import openai
from fixtures.api_server import hearth_serve, serving
from fixtures.tiny_models import HARMONY_GRAMMAR, TOOL_CALL_GRAMMAR

from storage import Store
from storage.db import DATABASE_FILENAME

ASK = [{"role": "system", "content": "Answer briefly."},
       {"role": "user", "content": "What is the weather in Oslo?"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a place.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}


def _chats(store_path=None) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """(title, [(role, content, reasoning, status)…]) of every chat, oldest first."""
    with (Store(store_path) if store_path else Store()) as store:
        return [(c.title, [(m.role, m.content, m.reasoning, m.status)
                           for m in store.messages.thread(c.id)])
                for c in reversed(store.conversations.list())]


def _settle(host) -> None:
    host.submit(lambda state: None).result(30)  # the recording is queued behind the answer


def _stream(client, model, **extra) -> tuple[str, str]:
    content, reasoning = [], []
    for chunk in client.chat.completions.create(model=model, messages=ASK, stream=True, **extra):
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            reasoning.append(getattr(choice.delta, "reasoning_content", None) or "")
    return "".join(content), "".join(reasoning)


def test_nothing_is_kept_unless_asked(tiny_gpt_oss):
    with serving(tiny_gpt_oss) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK, max_tokens=20)
        _settle(host)
    assert _chats() == []


def test_a_kept_chat_holds_what_was_sent_and_what_the_client_got(tiny_gpt_oss):
    grammar = {"grammar": HARMONY_GRAMMAR, "temperature": 0}
    with serving(tiny_gpt_oss, record_chats=True) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        content, reasoning = _stream(client, tiny_gpt_oss.stem, extra_body=grammar)
        # A stop sequence cuts what the client gets: the chat keeps the cut answer.
        stop = content[-1]
        cut = client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK, stop=[stop],
                                             extra_body=grammar).choices[0].message.content or ""
        _settle(host)
    assert content and reasoning and cut == content[:content.index(stop)]
    first, second = _chats()
    assert first == ("API: What is the weather in Oslo?", [
        ("system", "Answer briefly.", "", "complete"),
        ("user", "What is the weather in Oslo?", "", "complete"),
        ("assistant", content, reasoning, "complete")])
    assert second[1][-1][1] == cut
    with Store() as store:
        answer = store.messages.thread(store.conversations.list()[0].id)[-1]
    assert answer.model_name and answer.effort == "medium" and answer.stats["generated_tokens"] > 0


def test_a_tool_call_is_kept_as_what_the_client_was_asked_to_run(tiny_gpt_oss):
    with serving(tiny_gpt_oss, record_chats=True) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model=tiny_gpt_oss.stem, messages=ASK, tools=[WEATHER],
            extra_body={"grammar": TOOL_CALL_GRAMMAR, "temperature": 0})
        _settle(host)
    (call,) = reply.choices[0].message.tool_calls
    (_title, messages), = _chats()
    assert messages[-1][1] == f"→ functions.get_weather {call.function.arguments}"


def test_a_client_that_leaves_leaves_its_partial_answer_marked(tiny_gpt_oss):
    long = (r'root ::= <|channel|> "analysis" <|message|> "x" <|end|> <|start|> "assistant" '
            r'<|channel|> "final" <|message|> ten{300}' + '\nten ::= w{10}\nw ::= [a-z]{1,8} " "\n')
    with serving(tiny_gpt_oss, record_chats=True) as (server, host):
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        got = []
        stream = client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK,
                                                stream=True, extra_body={"grammar": long})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got.append(chunk.choices[0].delta.content)
                break
        stream.close()
        for _ in range(300):  # the server notices the closed connection, then records
            _settle(host)
            if _chats():
                break
            time.sleep(0.1)
    (_title, messages), = _chats()
    role, content, _reasoning, status = messages[-1]
    assert role == "assistant" and status == "cancelled" and content.startswith("".join(got))


def test_hearth_serve_keeps_chats_when_asked(tiny_gpt_oss, tmp_path):
    with hearth_serve(tiny_gpt_oss, "--record-chats",
                      env={"HEARTH_DATA_DIR": str(tmp_path)}) as (_proc, url):
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        client.chat.completions.create(model=tiny_gpt_oss.stem, messages=ASK, max_tokens=16,
                                       extra_body={"grammar": HARMONY_GRAMMAR})
        for _ in range(100):  # recorded on the server's engine thread, just after the answer
            if (tmp_path / DATABASE_FILENAME).exists() and _chats(tmp_path / DATABASE_FILENAME):
                break
            time.sleep(0.1)
    (title, messages), = _chats(tmp_path / DATABASE_FILENAME)
    assert title == "API: What is the weather in Oslo?" and messages[-1][0] == "assistant"


def test_a_request_without_words_is_still_a_named_chat(store):
    from app.core.server import recording
    from inference.chat_messages import ChatMessage

    chat_id = recording.save(store, recording.Exchange((ChatMessage("user", "   \n "),), "low",
                                                       "an answer"), model_name=None,
                             model_sha256=None)
    assert store.conversations.get(chat_id).title == "API: a request"
