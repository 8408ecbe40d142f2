"""`hearth render`: the exact prompt text a conversation becomes, for checking from outside.

Reads a JSON list of messages in the OpenAI chat shape on stdin — `{"role", "content"}`, an
assistant's `thinking` and `tool_calls` (`id`, `type: function`, `function: {name,
arguments}`), `tool` messages with `tool_call_id` — and prints what the model would read.
`--tools FILE` declares functions (the OpenAI API's `tools` list), `--date` fixes the date the
template writes. It never opens the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from app.core.engine_host import EngineHost
from common.errors import UserError
from inference.runtime import LoadOptions

MAX_INPUT_BYTES = 64_000_000


def _json_file(path: str, what: str):
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise UserError(f"{what} {path} is larger than {MAX_INPUT_BYTES:,} bytes")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{what} {path} is not JSON: {exc}") from exc


def cmd_render(args: argparse.Namespace) -> int:
    from app.cli.chat import _model_and_prefs

    model = args.model or _model_and_prefs(None)[0]
    try:
        conversation = json.loads(sys.stdin.read(MAX_INPUT_BYTES + 1))
    except (ValueError, RecursionError) as exc:
        raise UserError(f"stdin is not JSON: {exc}") from exc
    if not isinstance(conversation, list) or not all(
            isinstance(m, dict) and "role" in m for m in conversation):
        raise UserError('expected a JSON list of messages: {"role", "content", "thinking"?, '
                        '"tool_calls"?, "tool_call_id"?}')
    tools = _json_file(args.tools, "the tools file") if args.tools else None
    if tools is not None and not isinstance(tools, list):
        raise UserError('the tools file must hold a JSON list of {"type": "function", '
                        '"function": {"name", "description", "parameters"}}')
    now = None
    if args.date:
        try:
            now = dt.datetime.fromisoformat(args.date)
        except ValueError as exc:
            raise UserError(f"--date expects YYYY-MM-DD, not {args.date!r}") from exc
    # A tokenizer-only load, so it is quick; still one thread owns it from load to free.
    host = EngineHost("hearth-render", open_store=None)
    try:
        engine = host.load(model, LoadOptions(vocab_only=True)).result()
        if engine.template_warning:
            sys.stderr.write(f"hearth: note: {engine.template_warning}\n")
        text = host.submit(lambda _state: engine.render(conversation, args.effort, tools=tools,
                                                        now=now)).result()
    finally:
        host.close()
    sys.stdout.write(text)
    return 0


def add_parser(sub) -> None:
    from common.values import EFFORTS

    render = sub.add_parser("render", help="print the exact prompt a conversation (JSON on stdin) becomes")
    render.add_argument("--model", help="path to a GGUF model (default: the app's default model)")
    render.add_argument("--effort", choices=EFFORTS, default="medium")
    render.add_argument("--tools", metavar="FILE",
                        help="function definitions (the OpenAI API's `tools` list, JSON)")
    render.add_argument("--date", metavar="YYYY-MM-DD", help="the date the prompt states")
