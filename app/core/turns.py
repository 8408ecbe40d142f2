"""One chat turn as data: history → context → render → generate → save. No Qt here.

The window's controller runs `run_turn` on the inference thread; `hearth chat --save` runs it
in the terminal. Both get the same events, the same saved rows and the same failure handling.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from app.core import documents
from inference.context import PromptTooLongError, fit_prompt
from inference.events import (
    AnswerDelta,
    Done,
    Event,
    GenerationStats,
    ReasoningDelta,
    ToolCall,
)
from inference.runtime import ContextFullError, Engine
from inference.sampling import GPT_OSS_DEFAULT, Sampling
from storage import CURRENT_LEAF, Store
from storage.conversations import DEFAULT_TITLE

log = logging.getLogger(__name__)

SAVE_INTERVAL_S = 0.5  # the growing answer reaches the disk about twice a second
TITLE_CHARS = 60


@dataclass
class TurnRequest:
    """A new message (`text`), or another answer to an earlier one (`regenerate`), or more of a
    cut-off answer (`continue_id`)."""

    conversation_id: int
    text: str = ""
    effort: str = "medium"
    instructions: str | None = None
    sampling: Sampling = GPT_OSS_DEFAULT
    # Where the new message goes: the shown branch's end, or (edit and resend) the parent of
    # the message being edited, which makes a sibling branch.
    parent_id: object = CURRENT_LEAF
    regenerate: int | None = None  # a user message id: answer it again, as a new branch
    continue_id: int | None = None  # an assistant message id: generate more of it
    now: _dt.datetime | None = None  # the date the template writes; a re-run passes the original
    # A replay ("Re-run exactly"): keep at most this many cached prompt tokens, as many as
    # the original reused, so the same tokens are evaluated the same way.
    reuse_limit: int | None = None
    attachments: tuple[int, ...] = ()  # document ids (app.documents.ingest) for this message


@dataclass
class TurnResult:
    user_message_id: int
    message_id: int
    status: str  # complete | cancelled | failed
    answer: str = ""
    reasoning: str = ""
    stats: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class _Progress:
    answer: list = field(default_factory=list)
    reasoning: list = field(default_factory=list)
    tool_calls: list = field(default_factory=list)
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
        elif isinstance(event, ToolCall):
            self.tool_calls.append({"name": event.name, "arguments": event.arguments})

    def finish_reasoning(self) -> None:
        if self.reasoning_started is not None and self.reasoning_s is None:
            self.reasoning_s = time.monotonic() - self.reasoning_started


def history_for(store: Store, conversation_id: int, before_id: int) -> list[dict]:
    """The shown branch up to `before_id`, as the model should see it: final answers only
    (earlier reasoning is dropped, as harmony requires), empty ones skipped."""
    history = []
    for m in store.messages.thread(conversation_id):
        if m.id == before_id:
            break
        if m.role in ("user", "assistant") and m.content:
            history.append({"role": m.role, "content": m.content})
    return history


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def run_turn(store: Store, engine: Engine, request: TurnRequest, *,
             cancel: threading.Event | None = None,
             on_event: Callable[[Event], None] | None = None,
             on_saved: Callable[[int, int], None] | None = None,
             on_plan: Callable[[dict], None] | None = None,
             model_sha256: str | None = None) -> TurnResult:
    """Run one turn to its end. Never raises for the model's or the user's troubles: the
    partial answer is kept, and the result (and the saved row) says what happened.

    `on_saved(user_message_id, assistant_message_id)` runs once both rows exist;
    `on_plan(plan)` once the conversation's documents are planned into the prompt (before
    the first token), with what goes in whole, which passages, and what was left out.
    """
    conversation = store.conversations.get(request.conversation_id)
    if conversation is None:
        raise ValueError(f"no conversation {request.conversation_id}")
    sampling = request.sampling.with_seed()  # a concrete seed, saved, so a turn can be repeated
    now = request.now or _dt.datetime.now()
    progress = _Progress()
    continuing = None
    with store.transaction():
        if request.continue_id is not None:
            continuing = placeholder = store.messages.get(request.continue_id)
            if placeholder is None or placeholder.role != "assistant":
                raise ValueError(f"no answer {request.continue_id} to continue")
            user = store.messages.get(placeholder.parent_id) or placeholder
            store.messages.update(placeholder.id, status="streaming", error="")
            progress.answer.append(placeholder.content)
            progress.reasoning.append(placeholder.reasoning)
        elif request.regenerate is not None:
            user = store.messages.get(request.regenerate)
            placeholder = store.messages.add_reply(
                request.regenerate, effort=request.effort, model_name=engine.name,
                model_sha256=model_sha256)
        else:
            user, placeholder = store.messages.add_turn(
                request.conversation_id, request.text, parent_id=request.parent_id,
                effort=request.effort, model_name=engine.name, model_sha256=model_sha256)
            if request.attachments:
                store.documents.attach(user.id, request.attachments)
            if conversation.title == DEFAULT_TITLE:
                store.conversations.rename(request.conversation_id, title_from(request.text))
    if on_saved:
        on_saved(user.id, placeholder.id)

    stats = GenerationStats()
    status, error = "failed", None
    last_save = time.monotonic()

    reproduce: dict = {}  # what "Re-run exactly" needs, filled once the prompt is rendered

    def save(final_status: str) -> dict:
        saved = stats.as_dict()
        saved.update(reasoning_s=progress.reasoning_s, seed=sampling.seed, effort=request.effort,
                     temperature=sampling.temperature, top_p=sampling.top_p,
                     top_k=sampling.top_k, min_p=sampling.min_p, max_tokens=sampling.max_tokens,
                     **reproduce)
        if sampling.grammar:  # constrained output is part of what reproduces it
            saved["grammar"] = sampling.grammar
        if continuing is not None:  # the answer grew: what it was made from stays
            saved = {**continuing.stats, **saved, "continued": True}
            if "documents" in continuing.stats:
                saved["documents"] = continuing.stats["documents"]
        if final_status != "streaming" and progress.reasoning:  # "Thought for 12 s · 340 tokens"
            saved["reasoning_tokens"] = len(engine.tokenize("".join(progress.reasoning),
                                                            special=False, add_bos=False))
        if progress.tool_calls:
            saved["tool_calls"] = progress.tool_calls
        store.messages.update(placeholder.id, content="".join(progress.answer),
                              reasoning="".join(progress.reasoning), status=final_status,
                              stats=saved, error=error)
        return saved

    try:
        history = history_for(store, request.conversation_id, placeholder.id)
        if continuing is not None:
            history.append({"role": "assistant", "content": continuing.content})
        def render(msgs):
            return engine.render(msgs, request.effort, now=now, continue_final=continuing is not None)

        prompt = fit_prompt(render, engine.tokenize, request.instructions, history, engine.n_ctx)
        if continuing is None and history and history[-1]["role"] == "user":
            plan = documents.plan_for_turn(
                store, documents.count_tokens(engine), request.conversation_id,
                history[-1]["content"], documents.documents_budget(engine.n_ctx, len(prompt.tokens)))
            if plan.documents:
                reproduce["documents"] = plan.as_dict()
                if on_plan:
                    on_plan(reproduce["documents"])
            if plan.text:  # the newest message carries the passages; earlier ones stay cached
                history[-1] = {**history[-1], "content": documents.with_documents(plan, history[-1]["content"])}
                prompt = fit_prompt(render, engine.tokenize, request.instructions, history,
                                    engine.n_ctx)
        reproduce.update(prompt_sha256=hashlib.sha256(prompt.text.encode()).hexdigest(),
                         prompt_date=now.isoformat(timespec="seconds"),
                         instructions=request.instructions)
        for event in engine.chat_tokens(prompt.tokens, prompt.text, sampling, cancel,
                                        reuse_limit=request.reuse_limit):
            if isinstance(event, Done):
                stats = event.stats
                break
            progress.on(event)
            if on_event:
                on_event(event)
            if time.monotonic() - last_save >= SAVE_INTERVAL_S:
                save("streaming")
                last_save = time.monotonic()
        status = "cancelled" if stats.finish_reason == "cancelled" else "complete"
    except (PromptTooLongError, ContextFullError) as exc:
        error = str(exc)
        stats.finish_reason = "error"
    except Exception as exc:  # a llama.cpp failure mid-answer: keep what came, mark it
        log.exception("turn failed")
        error = f"The model stopped with an error: {exc}"
        stats.finish_reason = "error"
    progress.finish_reasoning()
    saved = save(status)
    if on_event:
        on_event(Done(stats))
    return TurnResult(user.id, placeholder.id, status, "".join(progress.answer),
                      "".join(progress.reasoning), saved, error)
