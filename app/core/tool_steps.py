"""The steps of one answer that calls tools: each call is stored as it happens, answered (or
replayed from the stored results of the answer being re-run), and turned into the messages
the next render needs. Used by `run_turn` (app/core/turns.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from app.core.tool_loop import (
    Approvals,
    Outcome,
    Toolbox,
    ToolFinished,
    ToolStarted,
    answer_call,
)
from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from inference.events import (
    Event,
    GenerationStats,
    PreambleDelta,
    ReasoningDelta,
    ToolCall,
)
from storage import Store
from storage.tool_calls import StoredCall

LIMIT_TEXT = ("You have used all {n} tool calls one answer may make. Do not call a tool again: "
              "answer the user now with what you have.")


@dataclass
class Step:
    """One generation between tool calls: its reasoning, its preamble, and the call it ends in."""

    reasoning: list[str] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)
    call: ToolCall | None = None

    def on(self, event: Event) -> None:
        if isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, PreambleDelta):
            self.preamble.append(event.text)
        elif isinstance(event, ToolCall) and self.call is None:
            self.call = event


def spec_record(spec: ToolSpec) -> dict:
    """What an answer's record keeps of a tool it was offered: enough to render it again."""
    return {"name": spec.name, "namespace": spec.namespace, "description": spec.description,
            "parameters": spec.parameters}


class RecordedTool:
    """A tool as an earlier answer was offered it: declared the same way, never run again
    (a replay answers calls from the stored results)."""

    def __init__(self, record: dict) -> None:
        self.spec = ToolSpec(name=str(record.get("name", "")), description=str(record.get("description", "")),
                             parameters=record.get("parameters"),
                             namespace=str(record.get("namespace", "functions")))

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        raise ToolError("This is a replay of an earlier answer: its tools are not run again.")

    def close(self) -> None:
        pass


def recorded_toolbox(records: tuple) -> Toolbox:
    return Toolbox([RecordedTool(r) for r in records if isinstance(r, dict)])


def merge_stats(total: GenerationStats, step: GenerationStats, *, first: bool) -> GenerationStats:
    """One answer's figures over its steps: the first prompt, every generated token."""
    if first:
        return replace(step)
    return replace(total, generated_tokens=total.generated_tokens + step.generated_tokens,
                   decode_s=total.decode_s + step.decode_s, sampler=step.sampler,
                   stop_token=step.stop_token, finish_reason=step.finish_reason)


class ToolSteps:
    def __init__(self, store: Store, message_id: int, toolbox: Toolbox, approvals: Approvals,
                 context: ToolContext, *, replayed: list[StoredCall] | None = None,
                 on_event: Callable[[Any], None] | None = None) -> None:
        self.store, self.message_id = store, message_id
        self.toolbox, self.approvals, self.context = toolbox, approvals, context
        self.replayed = replayed or []
        self.on_event = on_event
        self.count = 0
        self.exhausted = False  # the model called again after it was told to answer

    def answer(self, step: Step) -> list[dict]:
        """Store the step's call, answer it, and give the two messages that go on the history."""
        seq = self.count
        call = step.call if step.call.id else replace(step.call, id=f"call_{seq}")
        reasoning, preamble = "".join(step.reasoning), "".join(step.preamble)
        row = self.store.tool_calls.add(
            self.message_id, seq, recipient=call.recipient, arguments=call.arguments,
            channel=call.channel, content_type=call.content_type, constrained=call.constrained,
            call_id=call.id, reasoning=reasoning, preamble=preamble, status="running")
        outcome = self._outcome(seq, call)
        output = outcome.output
        pages = output.pages if output else ()
        citations = output.citations if output else ()
        self.context.citations.extend(citations)
        self.store.tool_calls.update(row.id, status=outcome.status, result=outcome.text,
                                     error=outcome.error, pages=pages, started=True,
                                     duration_s=round(outcome.duration_s, 3))
        if self.on_event:
            self.on_event(ToolFinished(seq, outcome.status, outcome.text, outcome.duration_s,
                                       tuple(pages), tuple(citations), call))
        self.count += 1
        return [{"role": "assistant", "thinking": reasoning, "content": preamble,
                 "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call.id, "name": call.recipient,
                 "content": outcome.text}]

    def _outcome(self, seq: int, call: ToolCall) -> Outcome:
        limit = self.toolbox.max_steps
        if seq >= limit:
            self.exhausted = seq > limit
            return Outcome("error", LIMIT_TEXT.format(n=limit), "step limit reached")
        if seq < len(self.replayed):
            stored = self.replayed[seq]
            if (stored.recipient, stored.arguments) == (call.recipient, call.arguments):
                if self.on_event:
                    self.on_event(ToolStarted(seq, call, stored.recipient))
                return Outcome("replayed", stored.text_for_model, stored.error,
                               stored.duration_s or 0.0, ToolOutput(stored.text_for_model,
                                                                    pages=stored.pages))
        return answer_call(self.toolbox, seq, call, self.context, self.approvals, self.on_event)
