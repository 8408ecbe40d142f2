"""Rendering a gpt-oss prompt: Hearth's harmony renderer against the Jinja template it replaced.

A 50-message conversation with 6 function tools (nested objects, arrays, enums, defaults):
12 user questions, each answered after a tool call and its result (one turn with two calls),
final answers of ~80 words. Timed per render (median of REPEATS, after a warm-up):

- render: messages → prompt text. harmony: inference/harmony_render.render_harmony; jinja:
  the gpt-oss template of tests/fixtures through inference/chat_format.ChatTemplate (its text
  differs — that is what was replaced — but the work is the same).
- tokenize: that text → tokens on the tiny gpt-oss vocabulary (llama.cpp, vocab only), first
  with nothing cached (a new conversation) and then again (a follow-up turn: the per-message
  token cache). harmony: by segments (Engine.tokenize of a Prompt); jinja: the whole text.

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_render.py`). Prints a table and
writes bench-results/render.json.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

from fixtures.tiny_models import CHAT_TEMPLATE_PATH, write_tiny_gpt_oss  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

from inference.chat_format import ChatTemplate  # noqa: E402
from inference.harmony_render import render_harmony  # noqa: E402
from inference.runtime import Engine, LoadOptions  # noqa: E402

REPEATS = 200
NOW = dt.datetime(2025, 6, 28)
WORDS = ("the model reads each tool result and then answers with care about what the user "
         "asked for in plain words").split()


def _tool(name: str, i: int) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": f"Tool {i}: does one thing.\nSee the docs for more.",
        "parameters": {"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string", "description": "What to look for."},
            "limit": {"type": "integer", "default": 10},
            "mode": {"type": "string", "enum": ["fast", "exact"], "default": "fast"},
            "filters": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "value": {"type": "string"}}}},
            "options": {"type": "object", "properties": {"strict": {"type": "boolean", "default": False}}},
        }}}}


TOOLS = [_tool(f"tool_{i}", i) for i in range(6)]


def conversation() -> list[dict]:
    messages: list[dict] = [{"role": "system", "content": "Be concise and cite the tools you used."}]
    answer = " ".join(WORDS * 4)
    for turn in range(12):
        messages.append({"role": "user", "content": f"Question {turn}: " + " ".join(WORDS[turn:])})
        calls = [{"id": f"c{turn}", "type": "function",
                  "function": {"name": f"tool_{turn % 6}", "arguments": json.dumps({"query": f"q{turn}"})}}]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        messages.append({"role": "tool", "tool_call_id": f"c{turn}", "content": json.dumps({"rows": turn})})
        messages.append({"role": "assistant", "content": f"Answer {turn}: {answer}"})
    messages.append({"role": "user", "content": "And finally?"})
    return messages  # 50 messages, the system message included


def timed(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return round(statistics.median(samples) * 1000, 3)


def tokenize_ms(engine: Engine, text: str) -> tuple[float, float, int]:
    """(first time, cached again, tokens): the engine's per-message cache emptied before each
    first-time run."""
    firsts = []
    for _ in range(20):
        engine._piece_tokens.clear()
        engine._prompt_tokens._cache.clear()
        t0 = time.perf_counter()
        tokens = engine.tokenize(text)
        firsts.append(time.perf_counter() - t0)
    return round(statistics.median(firsts) * 1000, 2), timed(lambda: engine.tokenize(text), 50), len(tokens)


def main() -> None:
    (ROOT / "bench-results").mkdir(exist_ok=True)
    messages = conversation()
    assert len(messages) == 50
    template = ChatTemplate(CHAT_TEMPLATE_PATH.read_text(encoding="utf-8"), now=lambda: NOW)
    tiny = write_tiny_gpt_oss(ROOT / "bench-results" / "tiny-gpt-oss.gguf")
    with Contention() as contention, Engine(tiny, LoadOptions(vocab_only=True)) as engine:
        harmony_text = render_harmony(messages, now=NOW, tools=TOOLS)
        jinja_text = template.render(messages, now=NOW, tools=TOOLS)
        rows = {}
        for name, render, text in (
                ("harmony", lambda: render_harmony(messages, now=NOW, tools=TOOLS), harmony_text),
                ("jinja", lambda: template.render(messages, now=NOW, tools=TOOLS), jinja_text)):
            first, again, n = tokenize_ms(engine, text)
            rows[name] = {"render_ms": timed(render), "chars": len(text), "tokens": n,
                          "tokenize_first_ms": first, "tokenize_cached_ms": again}
    results = {"machine": machine(), "code": code_version(), "repeats": REPEATS,
               "messages": len(messages), "tools": len(TOOLS), **rows,
               "contention": contention.report()}
    print(f"{'renderer':<10}{'render ms':>10}{'chars':>8}{'tokens':>8}{'tok 1st ms':>11}{'tok again ms':>13}")
    for name, r in rows.items():
        print(f"{name:<10}{r['render_ms']:>10.3f}{r['chars']:>8}{r['tokens']:>8}"
              f"{r['tokenize_first_ms']:>11.2f}{r['tokenize_cached_ms']:>13.3f}")
    print(f"50 messages, 6 tools; render: median of {REPEATS}; tokenize: tiny gpt-oss vocabulary "
          "(byte-level), first with no cache, then again (per-message cache)")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "render.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
