"""What happens between the model's tool call and its next token: the call is checked, maybe
approved, run with limits, and its result (or what went wrong) handed back as text.

Bad calls are answered to the model, never raised: arguments that are not JSON or fail the
tool's schema, an unknown tool, a tool that raises, times out or says too much (cut, with a
note). `run_turn` (app/core/turns.py) drives the loop; this module decides one call.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Sequence

import jsonschema
import referencing

from app.core.tools.base import Tool, ToolContext, ToolError, ToolOutput, ToolSpec
from inference.events import ToolCall
from inference.harmony_tools import BROWSER, PYTHON, FunctionTool, ToolNamespace

log = logging.getLogger(__name__)

MAX_STEPS = 8  # tool calls in one answer before the model is told to answer with what it has
MAX_RESULT_CHARS = 16_000  # about 4k tokens of one result in the context
TIMEOUT_S = 60.0
GRACE_S = 5.0  # a tool that ignores its own timeout is given up on after this much more

Decision = Literal["once", "chat", "always", "deny"]


@dataclass(frozen=True)
class ApprovalRequest:
    seq: int
    call: ToolCall
    spec: ToolSpec


# -- events (through run_turn's on_event, beside the model's own) -----------------------------

@dataclass(frozen=True)
class ToolStarted:
    """The model called a tool; `waiting` while a person is asked to allow it."""

    seq: int
    call: ToolCall
    title: str
    waiting: bool = False


@dataclass(frozen=True)
class ToolFinished:
    seq: int
    status: str  # done | error | denied | cancelled | replayed
    result: str  # what the model reads back
    duration_s: float = 0.0
    pages: tuple[str, ...] = ()
    citations: tuple[dict, ...] = ()
    call: ToolCall | None = None  # the call answered (a bad one never had a ToolStarted)


@dataclass
class Outcome:
    status: str
    text: str
    error: str | None = None
    duration_s: float = 0.0
    output: ToolOutput | None = None


def cut(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return (text[:limit] + f"\n\n[… cut: {len(text) - limit:,} more characters were left out. "
            "Ask for a smaller part if you need it.]")


class Toolbox:
    """The tools offered in one turn, found by what the model writes after `to=`."""

    def __init__(self, tools: Sequence[Tool] = (), *, max_steps: int = MAX_STEPS,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.tools = list(tools)
        self.max_steps = max_steps
        self.timeout_s = timeout_s
        self._by_recipient = {t.spec.recipient: t for t in self.tools}

    def __bool__(self) -> bool:
        return bool(self.tools)

    @property
    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self.tools]

    def find(self, recipient: str) -> Tool | None:
        tool = self._by_recipient.get(recipient)
        if tool is None and not recipient.startswith("functions.") and "." not in recipient:
            tool = self._by_recipient.get(f"functions.{recipient}")  # "to=calculator"
        return tool

    def render_options(self) -> dict:
        """What Engine.render needs to declare these tools, as gpt-oss was trained."""
        return render_options(self.specs)

    def names(self) -> str:
        return ", ".join(t.spec.recipient for t in self.tools) or "none"


def render_options(specs: Sequence[ToolSpec]) -> dict:
    functions = [FunctionTool(s.name, s.description, s.parameters)
                 for s in specs if s.namespace == "functions"]
    builtin: list[ToolNamespace] = []
    if any(s.namespace == "python" for s in specs):
        builtin.append(PYTHON)
    if any(s.namespace == "browser" for s in specs):
        builtin.append(BROWSER)
    return {"tools": functions or None, "builtin_tools": tuple(builtin)}


def parse_arguments(call: ToolCall, spec: ToolSpec) -> Any:
    """The call's arguments as the tool takes them; ToolError (for the model) otherwise."""
    if spec.parameters is None:
        return call.arguments  # raw text: python's code
    text = call.arguments.strip() or "{}"
    try:
        arguments = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ToolError(f"The arguments are not valid JSON ({exc}). Send a JSON object that "
                        "matches the tool's parameters.") from None
    try:
        # An empty registry: a `$ref` to an address is never fetched (jsonschema would).
        validator = jsonschema.validators.validator_for(spec.parameters)(
            spec.parameters, registry=referencing.Registry())
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    except (jsonschema.exceptions.SchemaError, RecursionError, TypeError) as exc:
        raise ToolError(f"The tool's own parameter schema is broken: {exc}") from None
    if errors:
        where = lambda e: "/".join(str(p) for p in e.absolute_path) or "arguments"  # noqa: E731
        problems = "; ".join(f"{where(e)}: {e.message}" for e in errors[:5])
        raise ToolError(f"The arguments do not match the tool's parameters: {problems}")
    return arguments


def run_tool(tool: Tool, arguments: Any, context: ToolContext, timeout_s: float) -> ToolOutput:
    """`tool.run` on a thread of its own, given up on if it outlasts its time or the turn is
    stopped. The tool sees a cancel event of its own: set at the deadline or on Stop (a time-out
    must not stop the whole turn)."""
    stop_turn = context.cancel
    call_context = replace(context, cancel=threading.Event())
    box: dict = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["output"] = tool.run(arguments, call_context)
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name=f"tool-{tool.spec.name}", daemon=True).start()
    deadline = time.monotonic() + timeout_s + GRACE_S
    while not done.wait(0.05):
        if stop_turn.is_set():
            call_context.cancel.set()
            done.wait(GRACE_S)
            break
        if time.monotonic() > deadline:
            call_context.cancel.set()  # the tool's own chance to stop; we no longer wait for it
            raise ToolError(f"The tool did not answer within {timeout_s:.0f} s.")
    if stop_turn.is_set():
        raise ToolCancelled("Stopped by the user before the tool finished.")
    if "error" in box:
        raise box["error"]
    output = box.get("output")
    if not isinstance(output, ToolOutput):
        raise TypeError(f"{tool.spec.name} returned {type(output).__name__}, not a ToolOutput")
    return output


class ToolCancelled(ToolError):
    """The person stopped the answer while the tool ran."""


@dataclass
class Approvals:
    """Who may run what without asking: the person's answers so far."""

    ask: Callable[[ApprovalRequest], Decision] | None = None  # None: calls that need one are denied
    allowed: set[str] = field(default_factory=set)  # recipients allowed in this chat or always
    remember: Callable[[str, Decision], None] | None = None  # "chat"/"always" answers, saved

    def needs(self, spec: ToolSpec) -> bool:
        return spec.approval == "ask" and spec.recipient not in self.allowed

    def decide(self, request: ApprovalRequest) -> bool:
        decision = self.ask(request) if self.ask is not None else "deny"
        if decision in ("chat", "always"):
            self.allowed.add(request.spec.recipient)
            if self.remember is not None:
                self.remember(request.spec.recipient, decision)
        return decision != "deny"


def answer_call(toolbox: Toolbox, seq: int, call: ToolCall, context: ToolContext,
                approvals: Approvals, on_event: Callable[[Any], None] | None = None) -> Outcome:
    """Check, maybe approve, run: what the model reads back, and how it went."""
    tool = toolbox.find(call.recipient)
    if tool is None:
        return Outcome("error", f"There is no tool {call.recipient!r}. Available tools: "
                                f"{toolbox.names()}.", "unknown tool")
    spec = tool.spec
    try:
        arguments = parse_arguments(call, spec)
    except ToolError as exc:
        return Outcome("error", str(exc), str(exc))
    if approvals.needs(spec):
        if on_event:
            on_event(ToolStarted(seq, call, spec.title or spec.name, waiting=True))
        if context.cancel.is_set() or not approvals.decide(ApprovalRequest(seq, call, spec)):
            if context.cancel.is_set():
                return Outcome("cancelled", "The user stopped the answer.", "stopped")
            return Outcome("denied", "The user did not allow this call. Do not try it again; "
                                     "answer without it or ask the user.", "not allowed")
    if on_event:
        on_event(ToolStarted(seq, call, spec.title or spec.name))
    started = time.monotonic()
    # A tool with a limit of its own (python's 120 s, as its declaration tells the model) keeps it.
    timeout_s = getattr(getattr(tool, "limits", None), "time_s", None) or toolbox.timeout_s
    try:
        output = run_tool(tool, arguments, replace(context, timeout_s=timeout_s), timeout_s)
    except ToolCancelled as exc:
        return Outcome("cancelled", str(exc), str(exc), time.monotonic() - started)
    except ToolError as exc:
        return Outcome("error", f"Error: {exc}", str(exc), time.monotonic() - started)
    except Exception as exc:  # a bug in the tool: the model hears it failed, the log has why
        log.exception("tool %s failed", spec.name)
        message = f"The tool failed: {type(exc).__name__}: {exc}"
        return Outcome("error", message, message, time.monotonic() - started)
    return Outcome("done", cut(output.text), None, time.monotonic() - started, output)
