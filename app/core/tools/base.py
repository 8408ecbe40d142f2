"""What a tool is to Hearth: a spec the model is shown, and a `run` that answers a call.

Every tool — built in (calculator, date and time, documents, python, browser) or from an MCP
server — implements `Tool`. The tool loop (app/core/tool_loop.py) validates a call's
arguments against `spec.parameters`, asks for approval where the policy says so, runs the
tool off the engine's thread with a time limit, cuts an over-long result, and hands the text
back to the model. A tool never raises for the model's mistakes: bad arguments, a missing
file, a failed request are a `ToolError`, whose message goes back to the model as the result
(and to the person, in the call's block).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from common.errors import UserError

Approval = Literal["never", "ask"]  # "ask": a person allows each call (or the whole chat)


@dataclass(frozen=True)
class ToolSpec:
    """What the model is offered, and what the person is told about it."""

    name: str  # the name the model calls: "calculator", "python", "search" (in "browser")…
    description: str
    # JSON schema of the arguments (an object schema); None for a tool that takes raw text
    # (gpt-oss's python tool takes the code itself).
    parameters: dict | None = None
    # "functions" for ordinary tools (the model calls `functions.NAME`); gpt-oss's built-in
    # namespaces are "python" and "browser", declared in the system message as trained.
    namespace: str = "functions"
    approval: Approval = "never"
    source: str = "built-in"  # or "MCP: <server name>"
    reaches_network: bool = False  # said in the Tools menu; off until the person turns it on
    title: str = ""  # for people: "Calculator", "Python"; defaults to the name

    @property
    def recipient(self) -> str:
        """What the model writes after `to=`: `functions.calculator`, `python`, `browser.search`."""
        if self.namespace == "functions":
            return f"functions.{self.name}"
        return self.namespace if self.name == self.namespace else f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class ToolOutput:
    """A tool's answer. `text` is what the model reads."""

    text: str
    # Passages the answer may cite ([n] links in the window): dicts shaped like the document
    # plan's passages ({"key", "label", "document_id", "chunk_ids"}).
    citations: tuple[dict, ...] = ()
    pages: tuple[str, ...] = ()  # addresses the tool opened (the browser), listed in the block
    files: tuple[str, ...] = ()  # files it wrote (python's scratch folder)


class ToolError(UserError):
    """The call could not be carried out; the message goes back to the model as the result."""


@dataclass
class ToolContext:
    """Where a call runs: the chat it belongs to, a cancel event, and its limits."""

    conversation_id: int | None
    data_dir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    timeout_s: float = 60.0
    # The turn's storage.Store, for tools that read the library. It belongs to the engine's
    # thread and a tool runs on a thread of its own: open a connection with `store.reopen()`.
    store: Any = None
    # The turn's citable passages so far (the document plan's, earlier tools'): a tool that
    # returns citations numbers them after these, so [n] stays unique within the answer.
    citations: list[dict] = field(default_factory=list)

    def next_citation_key(self) -> int:
        return max((int(c.get("key", 0)) for c in self.citations), default=0) + 1


class Tool(Protocol):
    spec: ToolSpec

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        """Answer one call. `arguments`: the parsed JSON object (already checked against
        `spec.parameters`), or the raw text for a tool whose `parameters` is None. Must
        return within `context.timeout_s` or when `context.cancel` is set."""
        ...

    def close(self) -> None:
        """Free what the tool holds (a worker process, a server). Called once, at the end."""
        ...
