"""One chat turn end to end (app/turns.py): real SQLite, real llama.cpp on the tiny gpt-oss.

What is saved is what the window shows after a restart, so every test checks the rows, not
just the returned TurnResult.
"""

from __future__ import annotations

import threading

import pytest
from fixtures.tiny_models import HARMONY_GRAMMAR

from app.core import provenance
from app.core.turns import TITLE_CHARS, TurnRequest, history_for, run_turn
from common.errors import UserError
from inference.events import AnswerDelta, Done, ReasoningDelta
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling
from storage import DEFAULT_TITLE

HARMONY_GREEDY = Sampling(temperature=0.0, grammar=HARMONY_GRAMMAR)


@pytest.fixture
def engine(tiny_gpt_oss):
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=2048)) as engine:
        yield engine


def turn(store, engine, conversation_id, text, *, sampling=HARMONY_GREEDY, effort="low", **kwargs):
    request = TurnRequest(conversation_id, text, effort=effort, sampling=sampling)
    return run_turn(store, engine, request, **kwargs)


def prompt_tokens_for(engine, messages, effort="low") -> int:
    """How many tokens the model must see for exactly this conversation."""
    return len(engine.tokenize(engine.render(messages, effort)))


def test_turn_saves_the_question_and_the_complete_answer(store, engine):
    conversation = store.conversations.create()
    events, saved_ids = [], []
    result = turn(store, engine, conversation.id, "hello there", on_event=events.append,
                  on_saved=lambda user_id, answer_id: saved_ids.append((user_id, answer_id)))

    user, answer = store.messages.list_for(conversation.id)
    assert saved_ids == [(user.id, answer.id)] == [(result.user_message_id, result.message_id)]
    assert (user.role, user.content, user.status) == ("user", "hello there", "complete")

    assert answer.role == "assistant" and answer.status == result.status == "complete"
    assert answer.content == result.answer == "".join(
        e.text for e in events if isinstance(e, AnswerDelta)) != ""
    assert answer.reasoning == result.reasoning == "".join(
        e.text for e in events if isinstance(e, ReasoningDelta)) != ""
    assert answer.model_name == "tiny-gpt-oss" and answer.effort == "low"
    assert answer.error is None and result.error is None

    made = provenance.of(answer)  # read back from the database, typed
    assert made == result.provenance
    assert isinstance(made.seed, int)
    assert isinstance(made.reasoning_s, float) and made.reasoning_s >= 0
    assert made.finish_reason == "stop" and made.generated_tokens > 0
    assert made.effort == "low" and made.temperature == 0.0
    assert made.sampler == "cpu"
    # The model saw exactly the conversation: the question once, no more.
    assert made.prompt_tokens == prompt_tokens_for(engine, [{"role": "user", "content": "hello there"}])


def test_events_arrive_reasoning_then_answer_then_one_done(store, engine):
    events = []
    turn(store, engine, store.conversations.create().id, "hi", on_event=events.append)
    kinds = [type(e) for e in events]
    assert kinds[-1] is Done and kinds.count(Done) == 1
    assert events[-1].finish_reason == "stop"
    first_answer = kinds.index(AnswerDelta)
    assert set(kinds[:first_answer]) == {ReasoningDelta}
    assert set(kinds[first_answer:-1]) == {AnswerDelta}


def test_saved_seed_repeats_a_sampled_turn(store, engine):
    """A temperature-1.0 turn saves its seed; the same seed gives the same turn again."""
    sampled = Sampling(temperature=1.0, grammar=HARMONY_GRAMMAR)
    first = turn(store, engine, store.conversations.create().id, "hi", sampling=sampled)
    again = turn(store, engine, store.conversations.create().id, "hi",
                 sampling=Sampling(temperature=1.0, grammar=HARMONY_GRAMMAR, seed=first.provenance.seed))
    assert again.provenance.seed == first.provenance.seed
    assert (again.reasoning, again.answer) == (first.reasoning, first.answer)


def test_cancel_mid_answer_keeps_the_partial_answer(store, engine):
    conversation = store.conversations.create()
    cancel = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, AnswerDelta):
            cancel.set()

    result = turn(store, engine, conversation.id, "hi", cancel=cancel, on_event=on_event)

    answers = [e for e in events if isinstance(e, AnswerDelta)]
    assert len(answers) == 1  # nothing more after the cancel
    assert isinstance(events[-1], Done) and events[-1].finish_reason == "cancelled"
    saved = store.messages.get(result.message_id)
    assert saved.status == result.status == "cancelled"
    assert saved.content == answers[0].text != ""
    assert saved.reasoning != ""
    assert provenance.of(saved).finish_reason == "cancelled"
    assert saved.error is None


def test_prompt_too_long_saves_a_failed_answer_and_does_not_raise(store, tiny_gpt_oss):
    with Engine(tiny_gpt_oss, LoadOptions(n_ctx=1024)) as small:
        conversation = store.conversations.create()
        huge = "word " * 1000
        events = []
        result = turn(store, small, conversation.id, huge, on_event=events.append)

    assert result.status == "failed"
    assert "tokens" in result.error and "context" in result.error
    user, answer = store.messages.list_for(conversation.id)
    assert user.content == huge  # the user's text is never lost
    assert answer.status == "failed" and answer.error == result.error and answer.content == ""
    assert provenance.of(answer).finish_reason == "error"
    assert [type(e) for e in events] == [Done] and events[0].finish_reason == "error"


def test_a_chat_deleted_meanwhile_is_a_user_error_and_writes_nothing(store, engine):
    with pytest.raises(UserError, match="no longer exists"):
        turn(store, engine, 42, "hi")
    assert store.conversations.list() == []


def test_first_message_becomes_the_title(store, engine):
    conversation = store.conversations.create()
    assert conversation.title == DEFAULT_TITLE
    turn(store, engine, conversation.id, "  Plan a   trip\nto Oslo  ")
    assert store.conversations.get(conversation.id).title == "Plan a trip to Oslo"
    turn(store, engine, conversation.id, "And Bergen?")
    assert store.conversations.get(conversation.id).title == "Plan a trip to Oslo"


def test_long_first_message_gives_a_shortened_title(store, engine):
    conversation = store.conversations.create()
    turn(store, engine, conversation.id, "why " * 40)
    title = store.conversations.get(conversation.id).title
    assert len(title) == TITLE_CHARS and title.endswith("…") and title.startswith("why why")


def test_second_turn_sees_the_first_answer_but_not_its_reasoning(store, engine):
    conversation = store.conversations.create()
    first = turn(store, engine, conversation.id, "first question")
    second = turn(store, engine, conversation.id, "second question")

    expected = [{"role": "user", "content": "first question"},
                {"role": "assistant", "content": first.answer}]
    assert history_for(store, conversation.id, second.user_message_id) == expected
    # What the model was given: exactly those two plus the new question. Turn 1's reasoning
    # (saved, shown in the window) is not part of it.
    assert first.reasoning
    conversation_2 = expected + [{"role": "user", "content": "second question"}]
    assert second.provenance.prompt_tokens == prompt_tokens_for(engine, conversation_2)
    # And the first turn's whole prompt was still in the cache.
    first_prompt = prompt_tokens_for(engine, expected[:1])
    assert second.provenance.cached_tokens >= first_prompt


def test_failed_and_empty_answers_are_left_out_of_history(store, engine):
    conversation = store.conversations.create()
    user, failed = store.messages.add_turn(conversation.id, "lost question")
    store.messages.update(failed.id, status="failed", error="boom")
    later = store.messages.add(conversation.id, "user", "next")
    assert history_for(store, conversation.id, later.id) == [{"role": "user", "content": "lost question"}]


def test_a_disk_that_fills_mid_answer_stops_it_with_a_message_and_keeps_what_was_saved(store, engine):
    """SQLite's page limit makes the database full for real (SQLITE_FULL) part-way through."""
    from fixtures.gui import ENDLESS

    conversation = store.conversations.create()
    earlier_user, earlier = store.messages.add_turn(conversation.id, "Earlier question")
    store.messages.update(earlier.id, content="Earlier answer", status="complete")
    pieces = []

    def fill_the_disk(event):
        if isinstance(event, AnswerDelta):
            pieces.append(event.text)
            if len(pieces) == 3:  # from now on nothing more fits
                pages = store.db.execute("PRAGMA page_count").fetchone()[0]
                store.db.execute(f"PRAGMA max_page_count = {pages}")

    result = run_turn(store, engine, TurnRequest(conversation.id, "Tell me everything", effort="low",
                                                 sampling=Sampling(temperature=0.0, grammar=ENDLESS)),
                      on_event=fill_the_disk)
    assert result.status == "failed" and "disk is full" in result.error.lower()
    store.db.execute("PRAGMA max_page_count = 1073741823")
    rows = store.messages.list_for(conversation.id)
    assert [(m.content, m.status) for m in rows[:2]] == [("Earlier question", "complete"),
                                                          ("Earlier answer", "complete")]
    assert rows[-1].role == "assistant"  # kept (streaming, or failed with what was saved)
