"""What bounding chat templates costs: rendering a 50-message conversation, before and after.

Every turn of a model other than gpt-oss (whose prompts harmony_render.py writes) renders the
conversation with the model's Jinja template (inference/chat_format.py), at least once
(fit_prompt renders again for each history cut it tries); gpt-oss's template stands in here
for a large real one. Since the templates run
under a time, size and memory budget (template_sandbox.py, interrupt.py), each render also
arms a watchdog and every operator, call, filter and output goes through a check.
"before" is jinja2's sandbox alone, set up as ChatTemplate was until then; "after" is
ChatTemplate.render. Also measured: how long Stop takes to end a template that loops forever.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_templates.py`). Prints a table
and writes bench-results/templates.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from jinja2 import Undefined  # noqa: E402
from jinja2.sandbox import ImmutableSandboxedEnvironment  # noqa: E402

from machine import Contention, code_version, machine, note  # noqa: E402

from inference.chat_format import CHATML_TEMPLATE, ChatTemplate, RenderCancelled, _tojson  # noqa: E402

GPT_OSS = ROOT / "tests" / "fixtures" / "openai-gpt-oss-120b.jinja"
REPEATS = 300
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["city"]}}}]


def conversation(n: int = 50) -> list[dict]:
    messages = [{"role": "system", "content": "Answer briefly and cite your sources."}]
    for i in range(n // 2):
        messages.append({"role": "user", "content": f"Question {i}: how do I keep basil alive "
                                                    "indoors in winter, and how often to water? " * 2})
        messages.append({"role": "assistant", "content": f"Answer {i}. Give it a south window, "
                         "water when the top inch is dry, and pinch the flowers off. " * 4})
    return messages[:n]


def plain(source: str):
    """ChatTemplate before the limits: jinja2's sandbox and Template.render."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=Undefined)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = lambda message: None
    env.globals["strftime_now"] = lambda fmt: time.strftime(fmt)
    return env.from_string(source)


def median_ms(*works, repeats: int = REPEATS) -> list[float]:
    """Median time of each of `works`, taken in turns so a busy moment weighs on all alike."""
    times: list[list[float]] = [[] for _ in works]
    for _ in range(repeats):
        for work, spent in zip(works, times):
            start = time.perf_counter()
            work()
            spent.append(time.perf_counter() - start)
    return [round(statistics.median(spent) * 1000, 3) for spent in times]


def bench_render(name: str, source: str, messages: list[dict], tools: list | None) -> dict:
    before_template = plain(source)
    after_template = ChatTemplate(source)
    variables = dict(messages=messages, add_generation_prompt=True, reasoning_effort="medium",
                     bos_token="", eos_token="", tools=tools)
    assert before_template.render(**variables) == after_template.render(messages, tools=tools)
    before, after = median_ms(lambda: before_template.render(**variables),
                              lambda: after_template.render(messages, tools=tools))
    compile_before, compile_after = median_ms(lambda: plain(source), lambda: ChatTemplate(source),
                                              repeats=20)
    return {"template": name, "messages": len(messages), "tools": bool(tools),
            "prompt_chars": len(after_template.render(messages, tools=tools)),
            "before_ms": before, "after_ms": after, "overhead_ms": round(after - before, 3),
            "compile_before_ms": compile_before, "compile_after_ms": compile_after}


def bench_cancel_latency() -> dict:
    """Stop pressed 0.1 s into a render that would never end: how long until it ends."""
    forever = ("{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
               "{% endfor %}{% endfor %}{% endfor %}")
    template = ChatTemplate(forever, budget_s=600)
    latencies = []
    for _ in range(10):
        cancel = threading.Event()
        pressed = {}

        def press():
            pressed["at"] = time.monotonic()
            cancel.set()

        threading.Timer(0.1, press).start()
        try:
            template.render([{"role": "user", "content": "hi"}], cancel=cancel)
        except RenderCancelled:
            latencies.append(time.monotonic() - pressed["at"])
    deadline = ChatTemplate(forever, budget_s=0.5)
    start = time.monotonic()
    try:
        deadline.render([{"role": "user", "content": "hi"}])
    except Exception:  # noqa: BLE001 - the TemplateLimitError expected
        pass
    return {"stop_latency_ms_median": round(statistics.median(latencies) * 1000, 1),
            "stop_latency_ms_max": round(max(latencies) * 1000, 1),
            "deadline_0_5_s_ended_after_s": round(time.monotonic() - start, 3)}


def main() -> None:
    gpt_oss = GPT_OSS.read_text(encoding="utf-8")
    with Contention() as contention:
        rows = [bench_render("gpt-oss", gpt_oss, conversation(50), None),
                bench_render("gpt-oss", gpt_oss, conversation(50), TOOLS),
                bench_render("gpt-oss", gpt_oss, conversation(2), None),
                bench_render("chatml", CHATML_TEMPLATE, conversation(50), None)]
        stop = bench_cancel_latency()
    results = {"machine": machine(), "code": code_version(), "repeats": REPEATS,
               "renders": rows, **stop, "contention": contention.report()}
    print(f"{'template':<9}{'msgs':>5}{'tools':>6}{'chars':>8}{'before ms':>10}{'after ms':>9}"
          f"{'+ ms':>7}{'compile ms before/after':>25}")
    for r in rows:
        print(f"{r['template']:<9}{r['messages']:>5}{'yes' if r['tools'] else 'no':>6}"
              f"{r['prompt_chars']:>8}{r['before_ms']:>10.3f}{r['after_ms']:>9.3f}"
              f"{r['overhead_ms']:>7.3f}{r['compile_before_ms']:>15.1f} / {r['compile_after_ms']:.1f}")
    print(f"median of {REPEATS} renders (compile: of 20). Stop during an endless template: "
          f"ends {stop['stop_latency_ms_median']} ms after the press (max "
          f"{stop['stop_latency_ms_max']} ms); a 0.5 s budget ends it after "
          f"{stop['deadline_0_5_s_ended_after_s']} s.")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "templates.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
