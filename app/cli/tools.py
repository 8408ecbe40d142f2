"""`hearth tools list` and the terminal side of tools in `hearth chat`: which tools exist, the
question asked before a call that needs approval, and how calls and results are printed."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import threading

from app.core.tool_loop import ApprovalRequest, Decision, ToolFinished, ToolStarted
from app.core.tools.registry import ToolRegistry
from common.errors import UserError
from inference.events import ToolCall
from storage import default_data_dir


def registry(mcp_file: str | None = None, search: str | None = None) -> ToolRegistry:
    """The tools this command may offer: the built-in ones, the browser (with `search` or the
    app's saved search service), and those of the MCP servers in `mcp_file` (or the data
    folder's mcp.json)."""
    from app.core.tools import registry as tool_registry
    from app.core.tools import setup
    from storage import Store
    from storage.db import DATABASE_FILENAME

    data_dir = default_data_dir()
    if search is None and (data_dir / DATABASE_FILENAME).exists():
        with Store() as store:
            search = tool_registry.search_url(store)
    found = ToolRegistry(data_dir)
    setup.add_optional_tools(found, mcp_file=mcp_file, search_url=search)
    return found


def parse_keys(text: str, tools: ToolRegistry) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    known = {c.key: c for c in tools.choices(start=any(k.startswith("mcp:") for k in keys))}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise UserError(f"no tool named {', '.join(unknown)}; available: {', '.join(known) or 'none'}")
    unavailable = [f"{k} ({known[k].why_unavailable})" for k in keys if not known[k].available]
    if unavailable:
        raise UserError(f"not available: {'; '.join(unavailable)}")
    return keys


def cmd_list(args: argparse.Namespace) -> int:
    tools = registry(args.mcp, args.search_url)
    try:
        choices = tools.choices(start=True)  # a terminal can wait for MCP servers to start
        if args.json:
            for c in choices:
                for spec in c.specs:
                    print(json.dumps({"key": c.key, "name": spec.recipient, "title": c.title,
                                      "source": c.source, "approval": spec.approval,
                                      "reaches_network": spec.reaches_network,
                                      "available": c.available, "why_unavailable": c.why_unavailable or None,
                                      "description": spec.description,
                                      "parameters": spec.parameters}, ensure_ascii=False))
            return 0
        if tools.mcp is not None:
            for status in tools.mcp.statuses().values():
                if status.state == "failed":
                    print(f"MCP server {status.name}: {status.reason}", file=sys.stderr)
        for c in choices:
            flags = [c.source]
            if c.needs_approval:
                flags.append("asks first")
            if c.reaches_network:
                flags.append("reaches the network")
            if not c.available:
                flags.append(f"unavailable: {c.why_unavailable}")
            names = ", ".join(s.recipient for s in c.specs)
            print(f"{c.key:<20} {names:<34} {' · '.join(flags)}")
        return 0
    finally:
        tools.close()


COMMANDS = {"list": cmd_list}


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.tools_command](args)


def add_parser(sub) -> None:
    tools = sub.add_parser("tools", help="the tools the model may use")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True)
    listing = tools_sub.add_parser("list", help="every tool the model could be offered")
    listing.add_argument("--mcp", metavar="FILE", help="MCP servers (Claude Desktop's mcp.json format)")
    listing.add_argument("--json", action="store_true", help="one JSON object per tool")
    listing.add_argument("--search-url", metavar="URL", help="the browser's search service (SearXNG)")


# -- in `hearth chat` ----------------------------------------------------------------------------


def terminal_approver(cancel: threading.Event):
    """Asks on the terminal (not stdin, which may carry a prompt) before a call that needs it.
    With no terminal, nothing is allowed: pass --yes to allow every call."""
    def ask(request: ApprovalRequest) -> Decision:
        try:
            tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            sys.stderr.write(f"\nhearth: {request.spec.recipient} needs approval and there is no "
                             "terminal to ask; not run (--yes allows every call)\n")
            return "deny"
        try:
            shown = request.call.arguments if len(request.call.arguments) < 2000 \
                else request.call.arguments[:2000] + " …"
            os.write(tty, (f"\n\n{request.spec.title or request.spec.name} wants to run:\n{shown}\n"
                           "Allow? [y] once  [c] for this chat  [n] no: ").encode())
            answer = b""
            while not cancel.is_set() and not answer.endswith(b"\n"):
                ready, _, _ = select.select([tty], [], [], 0.2)
                if ready:
                    piece = os.read(tty, 64)
                    if not piece:
                        break
                    answer += piece
            choice = answer.decode(errors="replace").strip().lower()[:1]
            return {"y": "once", "c": "chat", "a": "chat"}.get(choice, "deny")
        finally:
            os.close(tty)
    return ask


def event_json(event) -> dict | None:
    if isinstance(event, ToolCall):
        return {"type": "tool_call", "recipient": event.recipient, "arguments": event.arguments,
                "channel": event.channel, "content_type": event.content_type}
    if isinstance(event, ToolStarted):
        return {"type": "tool_started", "seq": event.seq, "recipient": event.call.recipient,
                "waiting_for_approval": event.waiting}
    if isinstance(event, ToolFinished):
        return {"type": "tool_result", "seq": event.seq, "status": event.status,
                "result": event.result, "duration_s": round(event.duration_s, 3),
                "pages": list(event.pages)}
    return None


def print_event(event) -> None:
    """A call and its outcome, one line each on stderr (the answer alone goes to stdout)."""
    if isinstance(event, ToolStarted) and not event.waiting:
        args = event.call.arguments.replace("\n", " ")
        sys.stderr.write(f"\n[{event.title}] {args[:200]}{' …' if len(args) > 200 else ''}\n")
    elif isinstance(event, ToolFinished):
        first = event.result.strip().splitlines()[0] if event.result.strip() else ""
        sys.stderr.write(f"[{event.status}, {event.duration_s:.2f} s] {first[:200]}\n")
    sys.stderr.flush()
