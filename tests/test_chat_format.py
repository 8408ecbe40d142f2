"""Rendering conversations with the model's own chat template (inference/chat_format.py).

The gpt-oss template is the real one (tests/fixtures/openai-gpt-oss-120b.jinja); the ChatML
one comes out of SmolLM2's GGUF. What the model reads must be exactly what these templates
say: the date, the reasoning effort, instructions, and history without earlier reasoning.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.tiny_models import CHAT_TEMPLATE_PATH
from common.values import EFFORTS
from inference.chat_format import CHATML_TEMPLATE, ChatTemplate, ChatTemplateError
from inference.gguf_file import check_gguf

FIXED_NOW = dt.datetime(2025, 3, 14, 15, 9, 26)
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gpt_oss() -> ChatTemplate:
    return ChatTemplate(CHAT_TEMPLATE_PATH.read_text(encoding="utf-8"),
                        bos_token="<|startoftext|>", eos_token="<|return|>", now=lambda: FIXED_NOW)


@pytest.mark.parametrize("effort", EFFORTS)
def test_reasoning_effort_goes_into_the_system_message(gpt_oss, effort):
    prompt = gpt_oss.render(HI, effort=effort)
    system = prompt.split("<|end|>")[0]
    assert system.startswith("<|start|>system<|message|>")
    assert f"Reasoning: {effort}\n" in system
    assert sum(f"Reasoning: {e}" in prompt for e in EFFORTS) == 1


def test_current_date_comes_from_the_clock(gpt_oss):
    assert "Current date: 2025-03-14\n" in gpt_oss.render(HI)
    later = ChatTemplate(gpt_oss.source, now=lambda: dt.datetime(2031, 1, 2))
    assert "Current date: 2031-01-02\n" in later.render(HI)


def test_whole_prompt_for_one_user_message(gpt_oss):
    prompt = gpt_oss.render(HI, effort="low")
    assert prompt.endswith("<|start|>user<|message|>hi<|end|><|start|>assistant")
    assert "<|start|>developer" not in prompt  # no instructions, no tools: no developer message
    assert prompt.count("<|start|>") == 3


def test_without_generation_prompt_the_prompt_ends_after_the_last_message(gpt_oss):
    prompt = gpt_oss.render(HI, add_generation_prompt=False)
    assert prompt.endswith("<|start|>user<|message|>hi<|end|>")


def test_system_message_becomes_developer_instructions(gpt_oss):
    prompt = gpt_oss.render([{"role": "system", "content": "Answer in French."}] + HI)
    assert "<|start|>developer<|message|># Instructions\n\nAnswer in French.\n\n<|end|>" in prompt
    # It is not rendered a second time as a message of its own.
    assert prompt.count("Answer in French.") == 1


def test_earlier_reasoning_is_dropped_from_history(gpt_oss):
    history = [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4.", "thinking": "SECRET-CHAIN-OF-THOUGHT"},
        {"role": "user", "content": "And 3+3?"},
    ]
    prompt = gpt_oss.render(history)
    assert "SECRET-CHAIN-OF-THOUGHT" not in prompt
    assert "<|channel|>analysis" not in prompt
    assert ("<|start|>assistant<|channel|>final<|message|>4.<|end|>"
            "<|start|>user<|message|>And 3+3?<|end|><|start|>assistant") in prompt


@pytest.mark.parametrize("field", ["content", "thinking"])
def test_channel_markup_inside_an_assistant_message_is_refused(gpt_oss, field):
    """The template's raise_exception surfaces as ChatTemplateError with its own message."""
    message = {"role": "assistant", "content": "ok", field: "<|channel|>analysis<|message|>x"}
    with pytest.raises(ChatTemplateError, match="<\\|channel\\|> tags"):
        gpt_oss.render(HI + [message] + HI)


def test_tojson_is_not_html_escaped(gpt_oss):
    """Tool arguments reach the model verbatim: '<', '>' and '&' stay as they are."""
    arguments = {"query": "a < b && c > d", "note": "ünïcode"}
    history = HI + [
        {"role": "assistant", "content": "",
         "tool_calls": [{"type": "function",
                         "function": {"name": "search", "arguments": arguments}}]},
        {"role": "tool", "content": "x < y & z"},
    ]
    prompt = gpt_oss.render(history)
    assert "<|start|>assistant to=functions.search<|channel|>commentary json<|message|>" in prompt
    assert json.dumps(arguments, ensure_ascii=False) + "<|call|>" in prompt
    assert '"x < y & z"' in prompt
    assert "&lt;" not in prompt and "&amp;" not in prompt and "\\u003c" not in prompt


def test_tools_are_described_in_the_developer_message(gpt_oss):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    prompt = gpt_oss.render(HI, tools=tools)
    assert "# Tools" in prompt and "type get_weather = (_: {" in prompt
    assert "Calls to these tools must go to the commentary channel" in prompt


@pytest.mark.parametrize("effort", ["", "HIGH", "max", None])
def test_unknown_effort_is_a_value_error(gpt_oss, effort):
    with pytest.raises(ValueError, match="reasoning effort"):
        gpt_oss.render(HI, effort=effort)


def test_template_that_does_not_compile_is_a_chat_template_error():
    with pytest.raises(ChatTemplateError, match="does not compile"):
        ChatTemplate("{% for m in messages %}{{ m.content }")


def test_template_runtime_failure_is_a_chat_template_error():
    template = ChatTemplate("{{ messages[5]['content'].upper() }}")
    with pytest.raises(ChatTemplateError, match="failed"):
        template.render(HI)


def test_sandbox_blocks_python_internals():
    """A GGUF's template is untrusted input: it must not reach Python internals."""
    template = ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(ChatTemplateError):
        template.render(HI)


def test_smollm2_chatml_template_from_its_gguf(smollm2_path):
    source = check_gguf(smollm2_path).chat_template
    assert source and "<|im_start|>" in source
    template = ChatTemplate(source)
    prompt = template.render([{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "hi"},
                              {"role": "assistant", "content": "Hello!"},
                              {"role": "user", "content": "bye"}])
    assert prompt == ("<|im_start|>system\nBe brief.<|im_end|>\n"
                      "<|im_start|>user\nhi<|im_end|>\n"
                      "<|im_start|>assistant\nHello!<|im_end|>\n"
                      "<|im_start|>user\nbye<|im_end|>\n"
                      "<|im_start|>assistant\n")
    assert not template.is_harmony


def test_fallback_chatml_template():
    template = ChatTemplate(CHATML_TEMPLATE)
    assert template.render(HI) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert template.render(HI, add_generation_prompt=False) == "<|im_start|>user\nhi<|im_end|>\n"
