"""Hostile chat templates (inference/chat_format.py, template_sandbox.py, interrupt.py).

A GGUF's chat template is code from whoever published the file. Each hostile template below
must end in a ChatTemplateError naming what it did, in a process limited to 2 GB of address
space and 30 s (the bound against a hang or a runaway allocation, not a timing figure); an
honest template must render exactly what plain Jinja renders.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from jinja2 import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fixtures.tiny_models import CHAT_TEMPLATE_PATH, write_tiny_gpt_oss
from inference import interrupt
from inference.chat_format import (
    CHATML_TEMPLATE,
    ChatTemplate,
    ChatTemplateError,
    RenderCancelled,
    TemplateLimitError,
    _tojson,
    model_template,
)
from inference.context import PromptTooLongError
from inference.events import Done
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

RENDERER = Path(__file__).parent / "fixtures" / "render_template.py"
HI = [{"role": "user", "content": "hi"}]
NOW = dt.datetime(2025, 3, 14)
LOOP_FOREVER = ("{% for a in range(100000) %}{% for b in range(100000) %}"
                "{% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}")
TOO_SLOW = r"did not finish rendering within 2 s"
TOO_BIG = r"tries to make a value of [\d,]+\+ characters \({}\)"

# (id, template, what the user reads). Each runs in its own limited process.
HOSTILE = [
    ("nested-range-loops", LOOP_FOREVER, TOO_SLOW),
    ("loop-over-long-string-times-messages",
     "{% set s = 'ab' * 100000 %}{% for m in messages %}{% for c in s %}{% for d in s %}"
     "{% endfor %}{% endfor %}{% endfor %}", TOO_SLOW),
    ("recursive-macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
     r"calls macros more than 64 deep"),
    ("recursive-loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
     r"calls macros more than 64 deep"),
    ("string-times-1e9", "{{ 'x' * 10**9 }}", TOO_BIG.format("with '\\*'")),
    ("string-times-1e8-concatenated", "{% set ns = namespace(s='') %}{% for i in range(10) %}"
     "{% set ns.s = ns.s ~ 'x' * 10**8 %}{% endfor %}", TOO_BIG.format("with '\\*'")),
    ("doubling-in-a-loop", "{% set ns = namespace(s='x' * 1000) %}{% for i in range(100) %}"
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", TOO_BIG.format("with '~'")),
    ("range-1e5-three-deep-writing",
     "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
     "{{ c }}{% endfor %}{% endfor %}{% endfor %}", r"writes more than [\d,]+ characters"),
    ("raise-exception", "{{ raise_exception('Only user and assistant roles are supported!') }}",
     r"^ChatTemplateError: Only user and assistant roles are supported!$"),
    ("never-compiles", "{% for m in messages %}{{ m.content }", r"does not compile: unexpected '}'"),
    ("output-50-MB", "{% for i in range(50) %}{{ 'x' * 1000000 }}{% endfor %}",
     r"writes more than [\d,]+ characters"),
    ("two-lists-of-2^100-paths-compared", "{% set ns = namespace(a=[1], b=[1]) %}"
     "{% for i in range(100) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}"
     "{% endfor %}{{ ns.a == ns.b }}", TOO_BIG.format("in a list, tuple or dict")),
    ("nested-100000-deep", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
     "{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l }}", r"nests values more than 100 deep"),
    ("percent-width", "{{ '%0999999999d' % 1 }}", TOO_BIG.format("with '%'")),
    ("format-width", "{{ '{:>999999999}'.format(1) }}", TOO_BIG.format(r"with \.format\(\)")),
    ("center-filter", "{{ 'x'|center(999999999) }}", TOO_BIG.format(r"with \|center")),
    ("ljust-method", "{{ 'a'.ljust(10**9) }}", TOO_BIG.format(r"with \.ljust\(\)")),
    ("replace-method", "{% set big = 'x' * 1000000 %}{{ big.replace('x', big) }}",
     TOO_BIG.format(r"with \.replace\(\)")),
    ("join-separator", "{% set big = 'x' * 1000000 %}{{ range(1000)|map('string')|join(big) }}",
     TOO_BIG.format(r"with \|join")),
    ("indent-filter", "{{ ('a\n' * 100000)|indent('x' * 1000) }}", TOO_BIG.format(r"with \|indent")),
    ("power-of-ten", "{{ 2 ** 100000000 }}", r"a number of more than 65,536 bits \(with '\*\*'\)"),
    ("squaring-in-a-loop", "{% set ns = namespace(x=3) %}{% for i in range(100) %}"
     "{% set ns.x = ns.x * ns.x %}{% endfor %}", r"a number of more than 65,536 bits \(with '\*'\)"),
    ("sum-of-300000-lists", "{{ ([[1]] * 300000)|sum(start=[]) }}", TOO_SLOW),
    ("namespace-chain", "{% set ns = namespace(p=none) %}{% for i in range(100000) %}"
     "{% set n = namespace(s=('x' * 1999990) ~ i) %}{% set n.prev = ns.p %}{% set ns.p = n %}"
     "{% endfor %}", TOO_BIG.format("in namespace attribute 'p'")),
    ("memory-in-a-lazy-loop", "{{ range(100000)|map('center', 1999999)|list|length }}",
     r"used more than 256 MB of memory while rendering"),
    ("division-by-zero", "{{ 1 / 0 }}", r"failed: ZeroDivisionError: division by zero"),
    ("lipsum-is-gone", "{{ lipsum(10**9) }}", r"failed: 'lipsum' is undefined"),
    ("nested-10000-deep-source", "{% if true %}" * 10000 + "{% endif %}" * 10000,
     r"recurses too deeply"),
    ("600-kB-source", "x" * 600_000, r"600,000 characters long"),
    ("tojson-separator", "{{ [1, 2]|tojson(separators=(',' * 100, ':')) }}",
     r"separator longer than 16"),
]


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def render_in_subprocess(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    path = tmp_path / "template.jinja"
    path.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, str(RENDERER), str(path)], capture_output=True,
                          text=True, timeout=30, preexec_fn=_limit_address_space)


@pytest.mark.parametrize("source, message", [(s, m) for _, s, m in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])
def test_hostile_template_ends_in_a_clear_error(tmp_path, source, message):
    """In bounded time and memory: 30 s and 2 GB of address space, or the test fails."""
    done = render_in_subprocess(tmp_path, source)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    line = done.stdout.strip()
    assert "\n" not in line
    assert line.split(":")[0] in ("ChatTemplateError", "TemplateLimitError", "TemplateCompileError")
    assert re.search(message, line), line


# -- honest templates are untouched --------------------------------------------------------------

def plain_template(source: str):
    """What templates rendered with before the limits: jinja2's sandbox alone."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=Undefined)
    env.filters["tojson"] = _tojson
    env.globals["strftime_now"] = NOW.strftime
    return env.from_string(source)


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "array", "items": {"type": "integer"}},
        "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
conversations = st.lists(st.tuples(st.sampled_from(["user", "assistant"]), text),
                         min_size=1, max_size=12)


@functools.cache
def gpt_oss_both():
    source = CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")
    return ChatTemplate(source, now=lambda: NOW), plain_template(source)


@settings(max_examples=60, deadline=None)
@given(conversations, st.booleans(), st.sampled_from(["low", "medium", "high"]))
def test_gpt_oss_template_renders_exactly_as_plain_jinja(turns, with_tools, effort):
    bounded, plain = gpt_oss_both()
    messages = [{"role": "system", "content": "Be brief."}] + [
        {"role": role, "content": content.replace("<|", "<\u200b|")} for role, content in turns]
    tools = TOOLS if with_tools else None
    assert bounded.render(messages, effort=effort, tools=tools) == plain.render(
        messages=messages, add_generation_prompt=True, reasoning_effort=effort, bos_token="",
        eos_token="", tools=tools)


def test_chatml_and_jinja_features_render_as_plain_jinja():
    source = (CHATML_TEMPLATE + "{% set ns = namespace(n=0) %}{% for m in messages %}"
              "{% set ns.n = ns.n + m.content|length %}{% endfor %}{{ ns.n }}"
              "{{ [1, 2] + [3] }}{{ (1, 'a') }}{{ {'k': [1]}|tojson }}{{ 'ab' * 3 }}{{ 2 ** 10 }}"
              "{{ '%05d|%s' % (42, 'x') }}{{ '{:>6}'.format('r') }}{{ 'a b'.replace(' ', '_') }}"
              "{{ messages|map(attribute='role')|join(', ') }}{{ 'x'|center(9) }}{{ [3, 1]|sum }}"
              "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m('y') }}{% set b %}B{% endset %}{{ b }}")
    assert ChatTemplate(source).render(HI) == plain_template(source).render(
        messages=HI, add_generation_prompt=True)


def test_a_long_honest_conversation_is_not_refused():
    """The limits grow with the conversation: 5 MB of messages render."""
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": "x" * 100_000}
                for i in range(51)]
    prompt = ChatTemplate(CHATML_TEMPLATE).render(messages)
    assert len(prompt) > 5_100_000 and prompt.endswith("<|im_start|>assistant\n")


# -- stopping -------------------------------------------------------------------------------------

def finishes(work, limit_s: float = 30.0):
    """Run `work` in a thread; its result or exception, or AssertionError if it hangs."""
    box: dict = {}

    def target():
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), "still running"
    return box


def test_cancel_stops_a_render_promptly():
    template = ChatTemplate(LOOP_FOREVER, budget_s=600)
    cancel = threading.Event()
    started = time.monotonic()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    box = finishes(lambda: template.render(HI, cancel=cancel))
    assert isinstance(box.get("error"), RenderCancelled)
    assert str(box["error"]) == "Stopped while the model's chat template was rendering."
    assert time.monotonic() - started < 30


def test_a_cancel_set_before_the_render_stops_it_too():
    cancel = threading.Event()
    cancel.set()
    box = finishes(lambda: ChatTemplate(LOOP_FOREVER, budget_s=600).render(HI, cancel=cancel))
    assert isinstance(box.get("error"), RenderCancelled)


def test_the_template_can_render_again_after_being_stopped():
    template = ChatTemplate("{% if messages|length > 1 %}" + LOOP_FOREVER + "{% endif %}ok",
                            budget_s=0.2)
    with pytest.raises(TemplateLimitError, match="within 0.2 s"):
        template.render(HI + HI)
    assert template.render(HI) == "ok"


@pytest.mark.parametrize("budget_s", [0.001, 0.003])
def test_the_stop_never_escapes_once_a_render_returned(budget_s):
    """Renders ending right around the deadline: the asynchronous stop either ends the render
    as a TemplateLimitError or is withdrawn; it never lands in the code that runs after."""
    outcomes = {"ok": 0, "stopped": 0}
    templates = [ChatTemplate(f"{{% for a in range({40 + 13 * n}) %}}{{% for b in range(50) %}}"
                              f"{{% endfor %}}{{% endfor %}}done", budget_s=budget_s)
                 for n in range(40)]
    for i in range(300):
        template = templates[i % 40]
        try:
            try:
                assert template.render(HI) == "done"
                outcomes["ok"] += 1
            except TemplateLimitError:
                outcomes["stopped"] += 1
            for _ in range(20_000):  # bytecode for a late exception to land in
                pass
        except BaseException as exc:  # noqa: BLE001
            pytest.fail(f"escaped after render {i}: {type(exc).__name__}")
    assert sum(outcomes.values()) == 300


def test_guarded_work_finishing_at_the_deadline_never_leaks_the_stop():
    def spin(n):
        total = 0
        for i in range(n):
            total += i
        return total

    started = time.perf_counter()
    spin(200_000)
    per_step = (time.perf_counter() - started) / 200_000
    steps = int(0.002 / per_step)
    for k in range(1000):
        try:
            try:
                interrupt.run_with_deadline(lambda g: spin(int(steps * (0.8 + 0.4 * (k % 41) / 40))),
                                            0.002)
            except interrupt.Stopped as exc:
                assert exc.reason == "deadline"
            spin(2000)
        except BaseException as exc:  # noqa: BLE001
            pytest.fail(f"escaped after call {k}: {type(exc).__name__}")


def test_a_stop_the_work_swallowed_is_sent_once_more():
    """An asynchronous exception landing in a `__del__` is printed and dropped: the watchdog
    sends a second one a second later, and no more."""
    swallowed = []

    def work(guard):
        try:
            while True:
                pass
        except BaseException as exc:  # noqa: BLE001 - what a __del__ does with it
            swallowed.append(exc)
        while True:
            pass

    box = finishes(lambda: interrupt.run_with_deadline(work, 0.05))
    assert isinstance(box.get("error"), interrupt.Stopped) and len(swallowed) == 1


# -- which template a model gets ------------------------------------------------------------------

def test_a_template_that_does_not_compile_falls_back_to_chatml_with_the_reason():
    template, warning = model_template("{% for m in messages %}{{ m.content }")
    assert template.source == CHATML_TEMPLATE
    assert warning.startswith("The model's chat template does not compile: unexpected '}'")
    assert warning.endswith("Using the generic ChatML format instead; answers may be poor.")


def test_a_template_that_loops_on_any_conversation_falls_back_to_chatml():
    template, warning = model_template(LOOP_FOREVER)
    assert template.source == CHATML_TEMPLATE
    assert "did not finish rendering within 2 s" in warning


def test_a_template_with_its_own_rules_is_kept():
    source = "{% if messages[0].role != 'system' %}{{ raise_exception('System first!') }}{% endif %}"
    template, warning = model_template(source)
    assert template.source == source and warning is None
    with pytest.raises(ChatTemplateError, match="^System first!$"):
        template.render(HI)


def test_no_template_is_chatml_without_a_warning():
    template, warning = model_template(None)
    assert template.source == CHATML_TEMPLATE and warning is None


# -- through the engine, with the template inside a real GGUF ----------------------------------

SHORT = Sampling(temperature=0.0, max_tokens=4)
TWO_TURNS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
             {"role": "user", "content": "bye"}]
# Honest for one message (the load-time probe passes), endless for a longer conversation.
HANGS_LATER = "{% if messages|length > 1 %}" + LOOP_FOREVER + "{% endif %}" + CHATML_TEMPLATE


def engine_with_template(tmp_path: Path, template: str, **options) -> Engine:
    path = write_tiny_gpt_oss(tmp_path / "hostile.gguf", chat_template=template)
    box = finishes(lambda: Engine(path, LoadOptions(**{"n_ctx": 1024, "flash_attn": False,
                                                      **options})))
    assert "error" not in box, box.get("error")
    return box["result"]


def test_a_gguf_whose_template_always_loops_still_loads_and_answers_in_chatml(tmp_path):
    with engine_with_template(tmp_path, LOOP_FOREVER) as engine:
        assert "did not finish rendering within 2 s" in engine.template_warning
        assert engine.render(HI) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        events = list(engine.chat(HI, sampling=SHORT))
        assert isinstance(events[-1], Done) and events[-1].stats.prompt_tokens > 0


def test_a_harmony_gguf_is_rendered_by_the_engine_whatever_its_jinja_does(tmp_path):
    """gpt-oss prompts come from harmony_render.py; the Jinja text only marks the format, so a
    hostile one is never run (not even at load) and does not cost the model its format."""
    with engine_with_template(tmp_path, "{# <|channel|> #}" + LOOP_FOREVER) as engine:
        assert engine.template.is_harmony and engine.template_warning is None
        prompt = finishes(lambda: engine.render(HI))["result"]
        assert prompt.endswith("<|start|>user<|message|>hi<|end|><|start|>assistant")


def test_a_gguf_whose_template_hangs_on_a_longer_conversation_gives_a_clear_error(tmp_path):
    with engine_with_template(tmp_path, HANGS_LATER) as engine:
        assert engine.template_warning is None
        box = finishes(lambda: engine.render(TWO_TURNS))
        assert isinstance(box.get("error"), TemplateLimitError)
        assert "did not finish rendering within 2 s" in str(box["error"])
        box = finishes(lambda: list(engine.chat(TWO_TURNS, sampling=SHORT)))
        assert isinstance(box.get("error"), TemplateLimitError)
        events = list(engine.chat(HI, sampling=SHORT))  # the engine is still usable
        assert isinstance(events[-1], Done)


def test_stop_during_a_render_ends_the_turn_as_cancelled(tmp_path):
    with engine_with_template(tmp_path, HANGS_LATER) as engine:
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        box = finishes(lambda: list(engine.chat(TWO_TURNS, sampling=SHORT, cancel=cancel)))
        events = box["result"]
        assert len(events) == 1 and events[0].stats.finish_reason == "cancelled"


@pytest.fixture
def tmp_gguf_engine(tiny_gpt_oss):
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=1024, flash_attn=False)) as engine:
        yield engine


def test_a_prompt_far_longer_than_the_context_is_refused_before_tokenizing(tmp_gguf_engine):
    """2 MB of text for a 1,024-token context: refused on its length alone (tokenizing it
    would take seconds, and 100 MB minutes)."""
    huge = [{"role": "user", "content": "x" * 2_000_000}]
    box = finishes(lambda: list(tmp_gguf_engine.chat(huge, sampling=SHORT)))
    assert isinstance(box.get("error"), PromptTooLongError)
    assert str(box["error"]).startswith("This conversation needs about 500,0")
    assert "far more than the 1,024-token context" in str(box["error"])

