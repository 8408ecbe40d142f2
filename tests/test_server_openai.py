"""`hearth serve` as other programs see it: the official `openai` client against the real
command, serving the tiny gpt-oss (a grammar makes it write well-formed harmony) and SmolLM2.
"""

from __future__ import annotations

import json
from dataclasses import replace

import httpx2
import openai
import pytest
from fixtures.api_server import hearth_serve
from fixtures.tiny_models import HARMONY_GRAMMAR, TOOL_CALL_GRAMMAR

from app.core import model_library
from inference.harmony_render import render_harmony
from inference.runtime import Engine, LoadOptions
from storage import Store
from storage.db import DATABASE_FILENAME

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a place.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-data")


def _settings(data_dir, path, **changes) -> None:
    with Store(data_dir / DATABASE_FILENAME) as store:
        model_library.set_prefs(store, path, replace(model_library.prefs(store, path), **changes))


@pytest.fixture(scope="module")
def gpt_oss(tiny_gpt_oss, data_dir):
    """(client, base URL, model id) for `hearth serve` on the tiny gpt-oss, greedy, its
    answers shaped by the harmony grammar saved as the model's own setting."""
    _settings(data_dir, tiny_gpt_oss, grammar=HARMONY_GRAMMAR, temperature=0.0, n_ctx=2048)
    with hearth_serve(tiny_gpt_oss, env={"HEARTH_DATA_DIR": str(data_dir)}) as (_proc, url):
        yield openai.OpenAI(base_url=url, api_key="unused", max_retries=0), url, tiny_gpt_oss.stem


@pytest.fixture(scope="module")
def smollm2(smollm2_path, data_dir):
    _settings(data_dir, smollm2_path, temperature=0.0, max_tokens=24, n_ctx=2048)
    with hearth_serve(smollm2_path, env={"HEARTH_DATA_DIR": str(data_dir)}) as (_proc, url):
        yield openai.OpenAI(base_url=url, api_key="unused", max_retries=0), url, smollm2_path.stem


def test_models_lists_the_loaded_model(gpt_oss):
    client, _url, model = gpt_oss
    (listed,) = client.models.list().data
    assert listed.id == model and listed.owned_by == "hearth"
    assert client.models.retrieve(model).id == model


def test_a_streamed_chat_gives_reasoning_then_the_answer(gpt_oss):
    client, _url, model = gpt_oss
    reasoning, content, finish, usage = [], [], None, None
    for chunk in client.chat.completions.create(model=model, messages=ASK, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reasoning.append(getattr(delta, "reasoning_content", None) or "")
            content.append(delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(reasoning).strip() and "".join(content).strip()
    assert finish == "stop"
    assert usage.completion_tokens > 0 and usage.prompt_tokens > 0
    # Whole, the same answer: greedy, from the same prompt.
    whole = client.chat.completions.create(model=model, messages=ASK)
    message = whole.choices[0].message
    assert (message.content, message.reasoning_content) == ("".join(content), "".join(reasoning))


def test_the_reasoning_effort_reaches_the_prompt(gpt_oss, tiny_gpt_oss):
    client, _url, model = gpt_oss
    vocab = Engine(tiny_gpt_oss, LoadOptions(vocab_only=True))
    try:
        for effort in ("low", "high"):
            used = client.chat.completions.create(model=model, messages=ASK,
                                                  reasoning_effort=effort).usage
            expected = vocab.tokenize(render_harmony(ASK, effort=effort))
            assert used.prompt_tokens == len(expected), effort
    finally:
        vocab.close()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model, messages=ASK, reasoning_effort="extreme")
    assert refused.value.body["param"] == "reasoning_effort"


def test_a_tool_call_round_trip(gpt_oss):
    client, _url, model = gpt_oss
    # The request's own grammar (llama-server's extension) makes the model call the tool.
    first = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER],
                                           extra_body={"grammar": TOOL_CALL_GRAMMAR})
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert set(json.loads(call.function.arguments)) == {"location"}
    history = ASK + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 °C"}]
    second = client.chat.completions.create(model=model, messages=history, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    # The call and its result were rendered into the second prompt.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + 10


def test_raw_completions_keep_harmony_markers(gpt_oss):
    client, _url, model = gpt_oss
    prompt = str(render_harmony(ASK, effort="low"))
    done = client.completions.create(model=model, prompt=prompt, max_tokens=200)
    text = done.choices[0].text
    assert text.startswith("<|channel|>analysis<|message|>") and "<|channel|>final" in text
    assert done.choices[0].finish_reason == "stop"
    assert done.model_extra.get("usage") or done.usage.completion_tokens > 0


def test_errors_are_shaped_as_openai_sends_them(gpt_oss):
    client, url, model = gpt_oss
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-5", messages=ASK)
    assert unknown.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model=model, messages=[
            {"role": "user", "content": "words " * 3000}])
    assert long.value.body["code"] == "context_length_exceeded"
    bad = httpx2.post(f"{url}/chat/completions", content=b'{"model": ',
                      headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}
    assert bad.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as shape:
        client.chat.completions.create(model=model, messages=[{"role": "wizard", "content": "x"}])
    assert shape.value.body["param"] == "messages"
    not_json = httpx2.post(f"{url}/chat/completions", content=b"model=x",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and "error" in not_json.json()
    assert httpx2.get(f"{url}/nothing-here").json()["error"]["type"] == "not_found_error"


def test_a_foreign_host_name_is_refused(gpt_oss):
    """A page that rebinds its own domain name to 127.0.0.1 names that domain: refused."""
    _client, url, _model = gpt_oss
    rebound = httpx2.get(f"{url}/models", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400


def test_smollm2_chats_through_its_own_template(smollm2):
    client, _url, model = smollm2
    assert [m.id for m in client.models.list().data] == [model]
    pieces, finish = [], None
    for chunk in client.chat.completions.create(
            model=model, stream=True, max_tokens=16,
            messages=[{"role": "system", "content": "Answer briefly."},
                      {"role": "user", "content": "What is the capital of France?"}]):
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces).strip()
    assert finish in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model=model, messages=[
            {"role": "user", "content": "words " * 3000}])
    assert long.value.body["code"] == "context_length_exceeded"


def test_an_api_key_is_required_when_set(tiny_gpt_oss, data_dir):
    env = {"HEARTH_DATA_DIR": str(data_dir), "TEST_HEARTH_KEY": "sk-test-7f3a"}
    with hearth_serve(tiny_gpt_oss, "--api-key-env", "TEST_HEARTH_KEY", env=env) as (proc, url):
        wrong = openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as refused:
            wrong.models.list()
        assert refused.value.body["code"] == "invalid_api_key"
        right = openai.OpenAI(base_url=url, api_key="sk-test-7f3a", max_retries=0)
        assert [m.id for m in right.models.list().data] == [tiny_gpt_oss.stem]
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "sk-test-7f3a" not in err
