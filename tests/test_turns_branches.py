"""Branches, continuation and exact re-runs, through the Qt-free turn on real llama.cpp."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest
from fixtures.gui import ENDLESS
from fixtures.tiny_models import HARMONY_GRAMMAR

from app.core import provenance, requests
from app.core.turns import TurnRequest, run_turn
from common.errors import UserError
from inference.events import AnswerDelta
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling

HARMONY_SAMPLED = Sampling(temperature=1.0, grammar=HARMONY_GRAMMAR, max_tokens=48)


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss):
    # Flash attention off: on the CPU it makes logits depend on how the prompt was batched.
    e = Engine(tiny_gpt_oss, LoadOptions(n_ctx=2048, flash_attn=False))
    yield e
    e.close()


def ask(store, engine, cid, text="", *, cancel=None, on_event=None, **kwargs):
    kwargs.setdefault("sampling", HARMONY_SAMPLED)
    return run_turn(store, engine, TurnRequest(cid, text, effort="low", **kwargs),
                    cancel=cancel, on_event=on_event)


def rerun(store, engine, answer_id, **kwargs):
    """What "Re-run exactly" does in the window and `hearth chat --rerun`: the core builds the
    replay from the saved row alone."""
    return run_turn(store, engine, requests.replay_request(store, answer_id), **kwargs)


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
    seen = engine.render([{"role": "user", "content": "One"},
                          {"role": "assistant", "content": first.answer},
                          {"role": "user", "content": "Two, edited"}], "low",
                         now=dt.datetime.fromisoformat(edited.provenance.prompt_date))
    assert edited.provenance.prompt_sha256 == hashlib.sha256(seen.encode()).hexdigest()


def test_continue_appends_to_a_cut_off_answer(store, engine):
    cid = store.conversations.create().id
    cut = ask(store, engine, cid, "Tell me a long story",
              sampling=Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR, max_tokens=12))
    assert cut.provenance.finish_reason == "length"
    more = ask(store, engine, cid, continue_id=cut.message_id,
               sampling=Sampling(temperature=0.0, max_tokens=8))
    assert more.message_id == cut.message_id  # the same message grew
    saved = store.messages.get(cut.message_id)
    assert saved.content.startswith(cut.answer) and len(saved.content) > len(cut.answer)
    assert saved.status == "complete" and provenance.of(saved).continued


def test_rerun_exactly_is_token_identical_on_the_tiny_model(store, engine):
    cid = store.conversations.create().id
    ask(store, engine, cid, "First question")
    original = ask(store, engine, cid, "Second question")  # its prompt reused the cache
    again = rerun(store, engine, original.message_id)
    assert again.provenance.prompt_sha256 == original.provenance.prompt_sha256
    assert (again.answer, again.reasoning) == (original.answer, original.reasoning)
    assert again.provenance.seed == original.provenance.seed
    # The turn itself records the outcome, on the new answer's row.
    saved = provenance.of(store.messages.get(again.message_id))
    assert (saved.rerun_of, saved.rerun_outcome) == (original.message_id, "identical")


def test_rerun_exactly_is_token_identical_on_smollm2(store, smollm2_path):
    engine = Engine(smollm2_path, LoadOptions(n_ctx=2048, flash_attn=False))
    try:
        cid = store.conversations.create().id
        sampled = Sampling(temperature=0.9, top_p=0.95, max_tokens=40)
        ask(store, engine, cid, "Write one sentence about the sea.", sampling=sampled)
        original = ask(store, engine, cid, "And one about mountains.", sampling=sampled)
        s = provenance.of(store.messages.get(original.message_id))
        again = rerun(store, engine, original.message_id)
        assert again.answer == original.answer and again.answer
        assert again.provenance.rerun_outcome == "identical"
        assert again.provenance.prompt_sha256 == s.prompt_sha256 == hashlib.sha256(
            engine.render([{"role": "user", "content": "Write one sentence about the sea."},
                           {"role": "assistant", "content": store.messages.thread(cid)[1].content},
                           {"role": "user", "content": "And one about mountains."}],
                          "low", now=dt.datetime.fromisoformat(s.prompt_date)).encode()).hexdigest()
    finally:
        engine.close()


def test_continue_keeps_the_recipe_and_is_not_offered_a_rerun(store, engine):
    """Bug: Continue overwrote the seed, prompt hash, date and cached tokens, so a later
    re-run always reported "differs". The recipe stays; an answer from two generations is
    refused a re-run with the reason instead."""
    cid = store.conversations.create().id
    ask(store, engine, cid, "Warm the cache")
    cut = ask(store, engine, cid, "Tell me a long story",
              sampling=Sampling(temperature=1.0, grammar=HARMONY_GRAMMAR, max_tokens=12))
    before = cut.provenance
    ask(store, engine, cid, continue_id=cut.message_id,
        sampling=Sampling(temperature=1.0, max_tokens=8, seed=before.seed + 1))
    after = provenance.of(store.messages.get(cut.message_id))
    assert (after.seed, after.prompt_sha256, after.prompt_date, after.cached_tokens) == (
        before.seed, before.prompt_sha256, before.prompt_date, before.cached_tokens)
    assert after.continued and after.generated_tokens > before.generated_tokens
    assert not after.replayable
    with pytest.raises(UserError, match="continued"):
        requests.replay_request(store, cut.message_id)


def test_a_stopped_rerun_is_reported_as_stopped_not_as_differs(store, engine):
    cid = store.conversations.create().id
    # Long enough that the replay is still writing when it is stopped (a one-word answer
    # could end by itself before the stop is seen).
    original = ask(store, engine, cid, "Say something",
                   sampling=Sampling(temperature=1.0, grammar=ENDLESS, max_tokens=40))
    cancel = threading.Event()

    def stop_at_first_answer(event):
        if isinstance(event, AnswerDelta):
            cancel.set()

    again = rerun(store, engine, original.message_id, cancel=cancel, on_event=stop_at_first_answer)
    assert again.status == "cancelled"
    assert provenance.of(store.messages.get(again.message_id)).rerun_outcome == "stopped"


def test_a_stopped_answer_replays_exactly_as_far_as_it_got(store, engine):
    cid = store.conversations.create().id
    cancel = threading.Event()
    answers = []

    def stop_after_two_pieces(event):
        if isinstance(event, AnswerDelta):
            answers.append(event)
            if len(answers) == 2:
                cancel.set()

    stopped = ask(store, engine, cid, "Say something", cancel=cancel, on_event=stop_after_two_pieces,
                  sampling=Sampling(temperature=1.0, grammar=ENDLESS))  # never ends by itself
    assert stopped.status == "cancelled"
    again = rerun(store, engine, stopped.message_id)
    assert (again.answer, again.reasoning) == (stopped.answer, stopped.reasoning)
    assert again.provenance.rerun_outcome == "identical"


def test_messages_that_did_not_fit_are_counted_on_the_answer(store, tiny_gpt_oss):
    """Bug: fit_prompt dropped the oldest messages and nobody was told."""
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=1024)) as small:
        cid = store.conversations.create().id
        for i in range(6):
            ask(store, small, cid, f"question {i} " + "word " * 60,
                sampling=Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR, max_tokens=24))
        last = ask(store, small, cid, "and the last one",
                   sampling=Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR, max_tokens=24))
    assert last.provenance.dropped_messages > 0
    assert provenance.of(store.messages.get(last.message_id)).dropped_messages == \
        last.provenance.dropped_messages
