"""One chat turn as data: history → context → render → generate → save. No Qt here.

A `TurnRequest` is frozen and complete: the core builds it (app/core/requests.py) from the
model's settings and the conversation's preset, so nothing about a turn is remembered on a
controller. The window runs `run_turn` on the engine's thread; `hearth chat` does the same.
Both get the same events, the same saved rows and the same failure handling.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from app.core import documents
from app.core.provenance import Provenance
from app.core.tool_loop import Approvals, Toolbox
from app.core.tool_steps import (
    Step,
    ToolSteps,
    merge_stats,
    recorded_toolbox,
    spec_record,
)
from app.core.tools.base import ToolContext
from common.errors import UserError
from common.values import DEFAULT_EFFORT
from inference.chat_format import RenderCancelled
from inference.context import fit_prompt
from inference.events import (
    AnswerDelta,
    Done,
    Event,
    GenerationStats,
    ReasoningDelta,
    ToolCall,
)
from inference.engine import ChatEngine
from inference.sampling import GPT_OSS_DEFAULT, Sampling
from storage import CURRENT_LEAF, StorageError, Store
from storage.conversations import DEFAULT_TITLE

log = logging.getLogger(__name__)

SAVE_INTERVAL_S = 0.5  # the growing answer reaches the disk about twice a second
TITLE_CHARS = 60


@dataclass(frozen=True)
class TurnRequest:
    """A new message (`text`), or another answer to an earlier one (`regenerate`), or more of a
    cut-off answer (`continue_id`), with everything the turn is made from."""

    conversation_id: int
    text: str = ""
    effort: str = DEFAULT_EFFORT
    instructions: str | None = None
    sampling: Sampling = GPT_OSS_DEFAULT
    # Where the new message goes: the shown branch's end, or (edit and resend) the parent of
    # the message being edited, which makes a sibling branch.
    parent_id: object = CURRENT_LEAF
    regenerate: int | None = None  # a user message id: answer it again, as a new branch
    continue_id: int | None = None  # an assistant message id: generate more of it
    now: _dt.datetime | None = None  # the date the template writes; a replay passes the original
    # A replay: keep at most this many cached prompt tokens, as many as the original reused,
    # so the same tokens are evaluated the same way.
    reuse_limit: int | None = None
    attachments: tuple[int, ...] = ()  # document ids (app.core.documents.ingest) for this message
    rerun_of: int | None = None  # the answer this replays: the turn records if it came out the same
    thinking: bool | None = None  # a <think> model's switch (None: the model's own default)
    # Where each sampling value came from, (field, source) pairs, and the family whose model
    # card spoke (app/core/sampling_defaults.py): recorded, so Info can say so.
    sampling_sources: tuple = ()
    model_family: str | None = None


@dataclass(frozen=True)
class TurnResult:
    user_message_id: int
    message_id: int
    status: str  # complete | cancelled | failed
    answer: str = ""
    reasoning: str = ""
    provenance: Provenance = field(default_factory=Provenance)
    error: str | None = None


@dataclass
class _Progress:
    answer: list = field(default_factory=list)
    reasoning: list = field(default_factory=list)
    reasoning_started: float | None = None
    reasoning_s: float | None = None

    def on(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, ReasoningDelta):
            if self.reasoning_started is None:
                self.reasoning_started = now
            self.reasoning.append(event.text)
        elif isinstance(event, AnswerDelta):
            if self.reasoning_started is not None and self.reasoning_s is None:
                self.reasoning_s = now - self.reasoning_started
            self.answer.append(event.text)

    def finish_reasoning(self) -> None:
        if self.reasoning_started is not None and self.reasoning_s is None:
            self.reasoning_s = time.monotonic() - self.reasoning_started


def history_for(store: Store, conversation_id: int, before_id: int) -> list[dict]:
    """The shown branch up to `before_id`, as the model should see it: questions, the tool calls
    answers made with their results, and final answers — earlier reasoning dropped, as harmony
    requires; empty answers skipped."""
    thread = store.messages.thread(conversation_id)
    calls = store.tool_calls.for_messages([m.id for m in thread if m.role == "assistant"])
    history = []
    for m in thread:
        if m.id == before_id:
            break
        if m.role == "user" and m.content:
            history.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            for c in calls.get(m.id, ()):
                if not c.finished:  # cut off by a crash before its result existed
                    continue
                call = ToolCall(c.recipient, c.arguments, c.channel, c.content_type,
                                c.constrained, c.call_id)
                history += [{"role": "assistant", "content": c.preamble, "tool_calls": [call]},
                            {"role": "tool", "tool_call_id": c.call_id, "name": c.recipient,
                             "content": c.text_for_model}]
            if m.content:
                history.append({"role": "assistant", "content": m.content})
    return history


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def describe_failure(exc: BaseException) -> str:
    """A failure inside generation, in words: never an empty "error: "."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The model stopped: this computer ran out of memory. What was written so far is kept."
    return f"The model stopped with an error: {str(exc) or type(exc).__name__}"


def _start_rows(store: Store, engine: ChatEngine, request: TurnRequest, model_sha256: str | None):
    """The question and the answer's row, in one transaction; for Continue, the answer."""
    conversation = store.conversations.get(request.conversation_id)
    if conversation is None:
        raise UserError("This chat no longer exists.")
    continuing = None
    with store.transaction():
        if request.continue_id is not None:
            continuing = answer = store.messages.get(request.continue_id)
            if answer is None or answer.role != "assistant":
                raise UserError("That answer no longer exists, so it cannot be continued.")
            user = store.messages.get(answer.parent_id) or answer
            store.messages.update(answer.id, status="streaming", error="")
        elif request.regenerate is not None:
            user = store.messages.get(request.regenerate)
            if user is None:
                raise UserError("That question no longer exists, so it cannot be answered again.")
            answer = store.messages.add_reply(request.regenerate, effort=request.effort,
                                              model_name=engine.name, model_sha256=model_sha256)
        else:
            user, answer = store.messages.add_turn(
                request.conversation_id, request.text, parent_id=request.parent_id,
                effort=request.effort, model_name=engine.name, model_sha256=model_sha256)
            if request.attachments:
                store.documents.attach(user.id, request.attachments)
            if conversation.title == DEFAULT_TITLE:
                store.conversations.rename(request.conversation_id, title_from(request.text))
    return user, answer, continuing


def run_turn(store: Store, engine: ChatEngine, request: TurnRequest, *,
             cancel: threading.Event | None = None,
             on_event: Callable[[Event], None] | None = None,
             on_saved: Callable[[int, int], None] | None = None,
             on_plan: Callable[[dict], None] | None = None,
             model_sha256: str | None = None,
             toolbox: Toolbox | None = None,
             approvals: Approvals | None = None) -> TurnResult:
    """Run one turn to its end. Raises UserError only when the turn cannot start (its rows do
    not exist yet); after that it never raises for the model's or the user's troubles: the
    partial answer is kept, and the result (and the saved row) says what happened.

    `on_saved(user_message_id, assistant_message_id)` runs once both rows exist;
    `on_plan(plan)` once the conversation's documents are planned into the prompt (before
    the first token), with what goes in whole, which passages, and what was left out.

    `toolbox`: the tools offered (gpt-oss only). A call stops generation at `<|call|>`; the
    call is answered (app/core/tool_loop.py), stored with its result, and the model goes on
    until it answers, is stopped, or reaches the toolbox's step limit.
    """
    sampling = request.sampling.with_seed()  # a concrete seed, saved, so a turn can be repeated
    now = request.now or _dt.datetime.now()
    user, answer, continuing = _start_rows(store, engine, request, model_sha256)
    if on_saved:
        on_saved(user.id, answer.id)

    progress = _Progress()
    if continuing is not None:  # the answer grows: what it was made from stays
        progress.answer.append(continuing.content)
        progress.reasoning.append(continuing.reasoning)
        made = replace(Provenance.from_json(continuing.stats), continued=True)
    else:
        # A model without an effort (not gpt-oss) records none: its answers never say "medium".
        made = Provenance(effort=request.effort if engine.template.is_harmony else None,
                          instructions=request.instructions,
                          rerun_of=request.rerun_of, thinking=request.thinking,
                          sampling_sources=dict(request.sampling_sources) or None,
                          model_family=request.model_family).with_sampling(sampling)
    stats = GenerationStats()
    status, error = "failed", None

    def save(final_status: str) -> Provenance:
        if continuing is None:
            record = replace(made.with_stats(stats), reasoning_s=progress.reasoning_s)
        else:
            record = _grown(made, stats, progress.reasoning_s)
        if final_status != "streaming" and progress.reasoning:  # "Thought for 12 s · 340 tokens"
            record = replace(record, reasoning_tokens=len(engine.tokenize(
                "".join(progress.reasoning), special=False, add_bos=False)))
        if final_status != "streaming" and request.rerun_of is not None:
            record = replace(record, rerun_outcome=_rerun_outcome(
                store, request.rerun_of, final_status, progress))
        store.messages.update(answer.id, content="".join(progress.answer),
                              reasoning="".join(progress.reasoning), status=final_status,
                              stats=record.to_json(), error=error)
        return record

    last_save = time.monotonic()
    try:
        history = history_for(store, request.conversation_id, answer.id)
        if continuing is not None:
            history.append({"role": "assistant", "content": continuing.content})

        offered = toolbox if toolbox and engine.tools_supported else None
        if request.rerun_of is not None:  # the original's tools, declared exactly as they were
            original = store.messages.get(request.rerun_of)
            recorded = Provenance.from_json(original.stats).tools if original else ()
            offered = recorded_toolbox(recorded) if recorded and engine.tools_supported else None
        tool_options = offered.render_options() if offered else {}

        def render(msgs):
            return engine.render(msgs, request.effort, now=now, cancel=cancel,
                                 continue_final=continuing is not None,
                                 thinking=request.thinking, **tool_options)

        prompt = fit_prompt(render, engine.tokenize, request.instructions, history, engine.n_ctx)
        if continuing is None and history and history[-1]["role"] == "user":
            plan = documents.plan_for_turn(
                store, documents.count_tokens(engine), request.conversation_id,
                history[-1]["content"], documents.documents_budget(engine.n_ctx, len(prompt.tokens)))
            if plan.documents:
                made = replace(made, documents=plan.as_dict())
                if on_plan:
                    on_plan(made.documents)
            if plan.text:  # the newest message carries the passages; earlier ones stay cached
                history[-1] = {**history[-1], "content": documents.with_documents(plan, history[-1]["content"])}
                prompt = fit_prompt(render, engine.tokenize, request.instructions, history,
                                    engine.n_ctx)
        if continuing is None:
            made = replace(made, prompt_sha256=hashlib.sha256(prompt.text.encode()).hexdigest(),
                           prompt_date=now.isoformat(timespec="seconds"),
                           dropped_messages=prompt.dropped,
                           tools=tuple(spec_record(t) for t in offered.specs) if offered else ())
        steps = ToolSteps(store, answer.id, offered or Toolbox(), approvals or Approvals(),
                          ToolContext(request.conversation_id, store.path.parent,
                                      cancel or threading.Event(), store=store,
                                      citations=list((made.documents or {}).get("passages", []))),
                          replayed=store.tool_calls.for_message(request.rerun_of)
                          if request.rerun_of is not None else [], on_event=on_event)
        reuse_limit = request.reuse_limit
        while True:
            step = Step()
            for event in engine.chat_tokens(prompt.tokens, prompt.text, sampling, cancel,
                                            reuse_limit=reuse_limit):
                if isinstance(event, Done):
                    stats = merge_stats(stats, event.stats, first=not steps.count)
                    break
                progress.on(event)
                step.on(event)
                if on_event:
                    on_event(event)
                if time.monotonic() - last_save >= SAVE_INTERVAL_S:
                    save("streaming")
                    last_save = time.monotonic()
            if step.call is None or stats.finish_reason != "stop" or continuing is not None:
                break
            history += steps.answer(step)  # the call and its result, as harmony renders them
            made = replace(made, citations=tuple(steps.context.citations))
            if steps.context.cancel.is_set():
                stats.finish_reason = "cancelled"
                break
            if steps.exhausted:
                break
            reuse_limit = None
            # Each step samples with a seed of its own (derived, so a replay repeats it): the
            # same seed again would replay the same random stream at every step.
            sampling = replace(sampling, seed=(sampling.seed + 1) % 2**31)
            prompt = fit_prompt(render, engine.tokenize, request.instructions, history, engine.n_ctx)
        status = "cancelled" if stats.finish_reason == "cancelled" else "complete"
    except StorageError as exc:  # the disk is full (or failed) mid-answer: stop, keep what was saved
        error = str(exc)
        stats.finish_reason = "error"
    except RenderCancelled:  # Stop while a (slow) template rendered: a stop like any other
        stats.finish_reason = "cancelled"
        status = "cancelled"
    except UserError as exc:  # the prompt does not fit, the template refused, ...
        error = str(exc)
        stats.finish_reason = "error"
    except Exception as exc:  # a llama.cpp failure mid-answer: keep what came, mark it
        log.exception("turn failed")
        error = describe_failure(exc)
        stats.finish_reason = "error"
    progress.finish_reasoning()
    try:
        record = save(status)
    except StorageError as exc:  # the row keeps its last saved text; the next start marks it
        log.warning("the answer's last save failed: %s", exc)
        error = error or str(exc)
        status, record = "failed", made

    if on_event:
        on_event(Done(stats))
    return TurnResult(user.id, answer.id, status, "".join(progress.answer),
                      "".join(progress.reasoning), record, error)


def _grown(made: Provenance, stats: GenerationStats, reasoning_s: float | None) -> Provenance:
    """A continued answer: the original's recipe (seed, prompt hash and date, cached tokens)
    stays as it was; the counts cover both generations."""
    return replace(made, generated_tokens=made.generated_tokens + stats.generated_tokens,
                   decode_s=made.decode_s + stats.decode_s, finish_reason=stats.finish_reason,
                   decode_tps=round(stats.decode_tps, 2) or made.decode_tps,
                   sampler=stats.sampler,
                   reasoning_s=made.reasoning_s if made.reasoning_s is not None else reasoning_s)


def _rerun_outcome(store: Store, original_id: int, status: str, progress: _Progress) -> str:
    if status != "complete":
        return "stopped"
    original = store.messages.get(original_id)
    same = original is not None and (original.content, original.reasoning) == (
        "".join(progress.answer), "".join(progress.reasoning))
    return "identical" if same else "differs"
