"""Speculative decoding (inference/speculative.py) on real llama.cpp: drafts change the speed,
never the tokens.

Greedy and seeded runs must give the same tokens with drafts as without; unseeded sampling
must follow the same distribution (a chi-square test on the tiny model); the KV cache must
hold exactly the kept tokens afterwards, so a follow-up reuses it and answers as a fresh
engine would. Flash attention is off on the tiny model for the reason tests/test_runtime.py
gives (its CPU kernel rounds a batch differently from single tokens).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from inference.events import GenerationStats
from inference.runtime import Engine, LoadOptions
from inference.sampling import GREEDY, Sampling
from inference.speculative import PromptLookup, SpeculativeOptions, Speculator

BARE_PROMPT = "<|start|>user<|message|>hello there<|end|><|start|>assistant"
DOC = ("Hearth runs local models on your own machine, keeps every conversation in one SQLite "
       "file, and never sends a byte to the network. Documents are read once, split into "
       "passages, and the passages that matter are placed in the prompt.")


ON = SpeculativeOptions(on_cpu=True)  # these tests run on a CPU build


def engine(path: Path, speculative: SpeculativeOptions | None = ON, **options):
    defaults = {"n_ctx": 2048, "flash_attn": False, "speculative": speculative}
    return Engine(path, LoadOptions(**{**defaults, **options}))


def run(eng: Engine, prompt: list[int], sampling: Sampling) -> tuple[list[int], GenerationStats]:
    stats = GenerationStats()
    tokens = [p.token for p in eng.generate(prompt, sampling, stats=stats)]
    return tokens, stats


class Oracle(Speculator):
    """Drafts from a script instead of the context: `script` is what the answer is expected to
    be; every `wrong_every`-th drafted token is replaced by a wrong one, so drafts are
    accepted in part and the rejected tail must leave the cache."""

    script: list[int] = []
    wrong_every = 0

    def __init__(self, prompt, options):
        super().__init__(prompt, options)
        self.n_prompt = len(prompt)
        self.n_drafted = 0

    def draft(self, limit):
        done = len(self.lookup.tokens) - self.n_prompt
        out = []
        for t in self.script[done:done + min(limit, self.options.max_draft)]:
            self.n_drafted += 1
            wrong = self.wrong_every and self.n_drafted % self.wrong_every == 0
            out.append((t + 1) % 300 if wrong else t)
        return out


def oracle(script: list[int], wrong_every: int) -> type[Oracle]:
    return type("ScriptedOracle", (Oracle,), {"script": script, "wrong_every": wrong_every})


class Recorder(Speculator):
    """Never drafts; remembers every token the generation decided (pieces are not tokens:
    a multi-byte character's bytes come out as one piece)."""

    last: "Recorder | None" = None

    def __init__(self, prompt, options):
        super().__init__(prompt, options)
        self.n_prompt = len(prompt)
        Recorder.last = self

    def draft(self, limit):
        return []

    @property
    def answer(self) -> list[int]:
        return self.lookup.tokens[self.n_prompt:]


def plain_run(path: Path, prompt_text: str, sampling: Sampling, **options):
    """Without drafts: (pieces' tokens, every decided token, stats), checked against an engine
    with speculation off altogether."""
    with engine(path, speculative=None, **options) as off:
        prompt = off.tokenize(prompt_text)
        pieces, _ = run(off, prompt, sampling)
    with engine(path, **options) as rec:
        rec.speculator_factory = Recorder
        again, stats = run(rec, prompt, sampling)
    assert again == pieces
    return prompt, pieces, Recorder.last.answer, stats


# -- the drafter ------------------------------------------------------------------------------


def test_lookup_drafts_what_followed_the_latest_earlier_occurrence():
    look = PromptLookup([1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8, 1, 2], ngram_max=3, ngram_min=2)
    assert look.draft(3) == [3, 7, 8]  # "1 2" last seen before the end at index 7
    look.append(3)
    assert look.draft(2) == [7, 8]  # "1 2 3" → the latest occurrence, not the first
    look.append(6)
    assert look.draft(4) == []  # "3 6" never occurred before


def test_lookup_never_finds_the_tail_itself():
    look = PromptLookup([5, 6, 7], ngram_max=3, ngram_min=2)
    assert look.draft(4) == []
    look.append(5)
    look.append(6)
    assert look.draft(4) == [7, 5, 6]  # runs into the answer so far


def test_drafts_grow_while_accepted_and_shrink_when_rejected():
    spec = Speculator(list(range(40)) * 2, SpeculativeOptions(max_draft=6, min_acceptance=0.0))
    assert len(spec.draft(16)) == 3  # a first guess: 3 of 4 tokens accepted
    for _ in range(8):
        spec.verified(len(spec.draft(16)), len(spec.draft(16)))  # every draft right
    assert len(spec.draft(16)) == 6  # as long as max_draft allows
    for _ in range(8):
        spec.verified(len(spec.draft(16)), 0)  # every draft wrong at once
    assert len(spec.draft(16)) == 1


def test_drafting_pauses_while_drafts_are_rejected_and_tries_again_later():
    spec = Speculator([1, 2, 1, 2, 1, 2], SpeculativeOptions(window=8, pause=4, min_acceptance=0.5))
    assert spec.draft(4)
    spec.verified(4, 0)
    spec.verified(4, 1)  # 1 of 8 accepted: pause for 4 tokens
    assert [bool(spec.draft(4)) for _ in range(5)] == [False] * 4 + [True]
    spec.verified(4, 0)
    spec.verified(4, 0)  # failed again: the pause doubles
    assert [bool(spec.draft(4)) for _ in range(9)] == [False] * 8 + [True]
    spec.verified(4, 4)
    spec.verified(4, 3)
    assert spec.draft(4)  # accepted: no pause


# -- exactness --------------------------------------------------------------------------------


def test_smollm2_greedy_copy_is_identical_and_really_drafted(smollm2_path):
    sampling = replace(GREEDY, max_tokens=80)
    with engine(smollm2_path, speculative=None, n_ctx=1024) as plain:
        messages = [{"role": "user", "content": "Repeat this text exactly:\n\n" + DOC}]
        prompt = plain.tokenize(plain.render(messages))
        expected, plain_stats = run(plain, prompt, sampling)
    with engine(smollm2_path, n_ctx=1024) as spec:
        got, stats = run(spec, prompt, sampling)
    assert got == expected
    assert plain_stats.drafted_tokens == 0
    assert stats.accepted_tokens >= 20  # the copy really went through drafts
    assert stats.generated_tokens == plain_stats.generated_tokens


@pytest.mark.parametrize("backend_sampling", [True, False], ids=["backend", "cpu"])
@pytest.mark.parametrize("sampling", [replace(GREEDY, max_tokens=60),
                                      Sampling(temperature=1.0, seed=42, max_tokens=60),
                                      Sampling(temperature=0.7, top_k=20, top_p=0.9, seed=6,
                                               max_tokens=60)],
                         ids=["greedy", "seeded-t1", "seeded-topk-topp"])
def test_partly_wrong_drafts_give_the_same_tokens_as_no_drafts(tiny_gpt_oss, sampling,
                                                               backend_sampling):
    """Drafts that are right for a few tokens, then wrong: the kept tokens are exactly the
    non-speculative run's, seeded sampling included (one random draw per kept token)."""
    prompt, expected, answer, plain_stats = plain_run(tiny_gpt_oss, BARE_PROMPT, sampling,
                                                      backend_sampling=backend_sampling)
    assert len(answer) >= 20
    with engine(tiny_gpt_oss, backend_sampling=backend_sampling) as spec:
        spec.speculator_factory = oracle(answer, wrong_every=5)
        got, stats = run(spec, prompt, sampling)
        assert got == expected
        assert stats.generated_tokens == plain_stats.generated_tokens
        assert stats.drafted_tokens > 20 and 0 < stats.accepted_tokens < stats.drafted_tokens
        # The cache holds the prompt and every token but the last (never evaluated), then at
        # most the rest of the last accepted draft (right, but past the stop): nothing rejected.
        n = len(prompt) + len(answer) - 1
        assert spec._cached[:n] == prompt + answer[:-1]
        assert len(spec._cached) <= n + spec.options.speculative.max_draft


def test_chi_square_unseeded_sampling_follows_the_models_distribution(tiny_gpt_oss):
    """The third generated token's distribution, with drafts that are often right (the greedy
    answer) and without drafts: a two-sample chi-square test over top-k's 6 candidates."""
    sampling = Sampling(temperature=1.0, top_k=6, max_tokens=3)
    runs = 300

    def third(eng, seed):
        stats = GenerationStats()
        for _ in eng.generate(prompt, replace(sampling, seed=seed), stats=stats):
            pass
        answer = Recorder.last.answer if eng.speculator_factory is Recorder else last_oracle[0].answer
        return (answer + [-1, -1])[2], stats  # -1: it ended before

    prompt, _, greedy, _ = plain_run(tiny_gpt_oss, BARE_PROMPT, replace(GREEDY, max_tokens=3),
                                     n_ctx=256)
    last_oracle = []

    class Scripted(oracle(greedy, wrong_every=0)):
        def __init__(self, prompt, options):
            super().__init__(prompt, options)
            self.n_prompt = len(prompt)
            last_oracle[:] = [self]

        @property
        def answer(self):
            return self.lookup.tokens[self.n_prompt:]

    with engine(tiny_gpt_oss, n_ctx=256) as plain:
        plain.speculator_factory = Recorder
        without = [third(plain, s)[0] for s in range(runs)]
    with engine(tiny_gpt_oss, n_ctx=256) as spec:
        spec.speculator_factory = Scripted
        drafted = accepted = 0
        with_drafts = []
        for s in range(runs):
            token, stats = third(spec, 10_000 + s)
            with_drafts.append(token)
            drafted += stats.drafted_tokens
            accepted += stats.accepted_tokens
    assert accepted > runs / 20  # drafts were really accepted (and rejected) along the way
    assert accepted < drafted
    # Two samples of equal size: chi2 = Σ (a−c)²/(a+c) over the bins, df = bins − 1; tokens
    # seen fewer than 10 times in all share one bin (the test needs a few per bin).
    counts = {}
    for tokens, side in ((without, 0), (with_drafts, 1)):
        for t in tokens:
            counts.setdefault(t, [0, 0])[side] += 1
    bins = [c for c in counts.values() if sum(c) >= 10]
    rare = [sum(c[0] for c in counts.values() if sum(c) < 10),
            sum(c[1] for c in counts.values() if sum(c) < 10)]
    if sum(rare):
        bins.append(rare)
    chi2 = sum((a - c) ** 2 / (a + c) for a, c in bins)
    df = len(bins) - 1
    assert df >= 3
    # Wilson-Hilferty's approximation of the critical value at p = 0.001 (z = 3.09). A broken
    # accept rule moves whole bins (keeping every draft: chi2 in the hundreds).
    critical = df * (1 - 2 / (9 * df) + 3.09 * (2 / (9 * df)) ** 0.5) ** 3
    assert chi2 < critical, (chi2, critical, bins)


def test_on_a_cpu_the_default_is_to_draft_nothing(smollm2_path):
    """Measured: on a CPU a check of several tokens costs nearly as many steps, so drafting is
    opt-in there (SpeculativeOptions.on_cpu); these tests' CPU build says "not on a GPU"."""
    sampling = replace(GREEDY, max_tokens=40)
    with Engine(smollm2_path, LoadOptions(n_ctx=1024)) as default:
        prompt = default.tokenize(default.render([{"role": "user", "content": "Repeat this text exactly:\n\n" + DOC}]))
        plain, stats = run(default, prompt, sampling)
    assert stats.drafted_tokens == 0
    with engine(smollm2_path, n_ctx=1024) as opted_in:
        drafted, stats = run(opted_in, prompt, sampling)
    assert stats.drafted_tokens > 0 and drafted == plain


# -- the cache afterwards -----------------------------------------------------------------------


def test_follow_up_after_a_speculative_answer_reuses_the_cache_and_matches_a_fresh_engine(
        smollm2_path):
    sampling = replace(GREEDY, max_tokens=60)
    with engine(smollm2_path, n_ctx=1024) as spec:
        first = [{"role": "user", "content": "Repeat this text exactly:\n\n" + DOC}]
        prompt1 = spec.tokenize(spec.render(first))
        out1, stats1 = run(spec, prompt1, sampling)
        assert stats1.accepted_tokens > 0
        follow = prompt1 + out1 + spec.tokenize("<|im_end|>\n<|im_start|>user\nAgain, please."
                                                "<|im_end|>\n<|im_start|>assistant\n", add_bos=False)
        out2, stats2 = run(spec, follow, sampling)
        assert stats2.cached_tokens >= len(prompt1) + len(out1) - 1  # its end token too, if a draft carried it
    with engine(smollm2_path, speculative=None, n_ctx=1024) as fresh:
        assert run(fresh, follow, sampling)[0] == out2


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_max_tokens_inside_an_accepted_draft_stops_exactly_there(tiny_gpt_oss, limit):
    prompt, expected, answer, _ = plain_run(tiny_gpt_oss, BARE_PROMPT, replace(GREEDY, max_tokens=40))
    _, first, _, _ = plain_run(tiny_gpt_oss, BARE_PROMPT, replace(GREEDY, max_tokens=limit))
    with engine(tiny_gpt_oss) as spec:
        spec.speculator_factory = oracle(answer, wrong_every=0)
        got, stats = run(spec, prompt, replace(GREEDY, max_tokens=limit))
        assert got == first
        assert stats.finish_reason == "length" and stats.generated_tokens == limit
        again, _ = run(spec, prompt, replace(GREEDY, max_tokens=40))  # the cache is still right
        assert again == expected


def test_drafts_never_overrun_a_small_context(tiny_gpt_oss):
    prompt, expected, answer, plain_stats = plain_run(tiny_gpt_oss, BARE_PROMPT, GREEDY, n_ctx=64)
    assert plain_stats.finish_reason == "length"
    with engine(tiny_gpt_oss, n_ctx=64) as spec:
        spec.speculator_factory = oracle(answer + [1] * 64, wrong_every=0)
        got, stats = run(spec, prompt, GREEDY)
    assert got == expected
    assert stats.finish_reason == "length"
