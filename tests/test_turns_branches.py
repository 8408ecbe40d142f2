"""Branches, continuation and exact re-runs, through the Qt-free turn on real llama.cpp."""

from __future__ import annotations

import hashlib

import pytest
from fixtures.tiny_models import HARMONY_GRAMMAR

from app.core.turns import TurnRequest, run_turn
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

HARMONY_SAMPLED = Sampling(temperature=1.0, grammar=HARMONY_GRAMMAR, max_tokens=48)


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss):
    # Flash attention off: on the CPU it makes logits depend on how the prompt was batched.
    e = Engine(tiny_gpt_oss, LoadOptions(n_ctx=2048, flash_attn=False))
    yield e
    e.close()


def ask(store, engine, cid, text="", **kwargs):
    kwargs.setdefault("sampling", HARMONY_SAMPLED)
    return run_turn(store, engine, TurnRequest(cid, text, effort="low", **kwargs))


def test_regenerate_keeps_the_old_answer_as_a_branch(store, engine):
    cid = store.conversations.create().id
    first = ask(store, engine, cid, "Name a colour")
    again = ask(store, engine, cid, regenerate=first.user_message_id)
    siblings = store.messages.siblings(again.message_id)
    assert [m.id for m in siblings] == [first.message_id, again.message_id]
    assert [m.id for m in store.messages.thread(cid)] == [first.user_message_id, again.message_id]
    store.conversations.switch_branch(cid, first.message_id)
    assert store.messages.thread(cid)[-1].content == first.answer


def test_edit_and_resend_makes_a_sibling_question_with_its_own_answer(store, engine):
    cid = store.conversations.create().id
    first = ask(store, engine, cid, "One")
    ask(store, engine, cid, "Two")
    edited = ask(store, engine, cid, "Two, edited", parent_id=first.message_id)
    thread = store.messages.thread(cid)
    assert [m.content for m in thread[:3]] == ["One", first.answer, "Two, edited"]
    assert len(store.messages.siblings(edited.user_message_id)) == 2
    # The model saw the edited branch only: its prompt is the render of exactly that history.
    import datetime as dt
    import hashlib as hl

    seen = engine.render([{"role": "user", "content": "One"},
                          {"role": "assistant", "content": first.answer},
                          {"role": "user", "content": "Two, edited"}], "low",
                         now=dt.datetime.fromisoformat(edited.stats["prompt_date"]))
    assert edited.stats["prompt_sha256"] == hl.sha256(seen.encode()).hexdigest()


def test_continue_appends_to_a_cut_off_answer(store, engine):
    cid = store.conversations.create().id
    cut = ask(store, engine, cid, "Tell me a long story",
              sampling=Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR, max_tokens=12))
    assert cut.stats["finish_reason"] == "length"
    more = ask(store, engine, cid, continue_id=cut.message_id,
               sampling=Sampling(temperature=0.0, max_tokens=8))
    assert more.message_id == cut.message_id  # the same message grew
    saved = store.messages.get(cut.message_id)
    assert saved.content.startswith(cut.answer) and len(saved.content) > len(cut.answer)
    assert saved.status == "complete" and saved.stats["continued"]


def _rerun(store, engine, answer_id):
    """What the window's "Re-run exactly" does, from the saved row alone."""
    import datetime as dt

    original = store.messages.get(answer_id)
    s = original.stats
    sampling = Sampling(temperature=s["temperature"], top_p=s["top_p"], top_k=s["top_k"],
                        min_p=s["min_p"], seed=s["seed"], max_tokens=s["max_tokens"],
                        grammar=HARMONY_GRAMMAR)
    return run_turn(store, engine, TurnRequest(
        original.conversation_id, effort=original.effort, sampling=sampling,
        regenerate=original.parent_id, now=dt.datetime.fromisoformat(s["prompt_date"]),
        instructions=s["instructions"], reuse_limit=s["cached_tokens"]))


def test_rerun_exactly_is_token_identical_on_the_tiny_model(store, engine):
    cid = store.conversations.create().id
    ask(store, engine, cid, "First question")
    original = ask(store, engine, cid, "Second question")  # its prompt reused the cache
    again = _rerun(store, engine, original.message_id)
    assert again.stats["prompt_sha256"] == original.stats["prompt_sha256"]
    assert (again.answer, again.reasoning) == (original.answer, original.reasoning)
    assert again.stats["seed"] == original.stats["seed"]


def test_rerun_exactly_is_token_identical_on_smollm2(store, smollm2_path):
    engine = Engine(smollm2_path, LoadOptions(n_ctx=2048, flash_attn=False))
    try:
        cid = store.conversations.create().id
        sampled = Sampling(temperature=0.9, top_p=0.95, max_tokens=40)
        ask(store, engine, cid, "Write one sentence about the sea.", sampling=sampled)
        original = ask(store, engine, cid, "And one about mountains.", sampling=sampled)
        import datetime as dt

        s = store.messages.get(original.message_id).stats
        again = run_turn(store, engine, TurnRequest(
            cid, effort="low", regenerate=original.user_message_id, reuse_limit=s["cached_tokens"],
            now=dt.datetime.fromisoformat(s["prompt_date"]),
            sampling=Sampling(temperature=s["temperature"], top_p=s["top_p"], seed=s["seed"],
                              max_tokens=s["max_tokens"])))
        assert again.answer == original.answer and again.answer
        assert again.stats["prompt_sha256"] == s["prompt_sha256"] == hashlib.sha256(
            engine.render([{"role": "user", "content": "Write one sentence about the sea."},
                           {"role": "assistant", "content": store.messages.thread(cid)[1].content},
                           {"role": "user", "content": "And one about mountains."}],
                          "low", now=dt.datetime.fromisoformat(s["prompt_date"])).encode()).hexdigest()
    finally:
        engine.close()
