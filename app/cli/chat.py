"""`hearth chat` and `hearth render`: one turn through the same core as the window.

The engine lives on its own thread (app/core/engine_host.py), which loads it, runs the turn
and frees it; the main thread only waits and turns Ctrl+C into a cancel, so a second Ctrl+C
can never free the model under a running `llama_decode`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from concurrent.futures import Future
from dataclasses import replace

from app.cli import remote as remote_cli
from app.cli import tools as tools_cli
from app.core import documents, requests, sampling_defaults, startup
from app.core.engine_host import EngineHost, EngineState
from app.core.tools.registry import approvals_for
from app.core.turns import TurnRequest, TurnResult, run_turn
from common.errors import UserError
from inference.events import (
    AnswerDelta,
    Done,
    Event,
    PreambleDelta,
    ReasoningDelta,
    ToolCall,
)
from inference.runtime import Engine, LoadCancelled, LoadOptions, ModelTooLargeError
from storage import Store, default_data_dir

INTERRUPTED = 130  # the shell's status for a program stopped by Ctrl+C


class Interrupts:
    """Ctrl+C while a model works: the first stops it cleanly (the answer so far is saved as
    stopped), the second says it is stopping, the third quits at once."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.count = 0

    def __call__(self, signum, frame) -> None:
        self.count += 1
        self.cancel.set()
        if self.count == 2:
            sys.stderr.write("\nStopping… (Ctrl+C again quits at once)\n")
        elif self.count >= 3:
            os._exit(INTERRUPTED)  # nothing is freed under llama.cpp: the process just ends

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers belong to the main thread (tests call main() anywhere)
            return
        previous = signal.signal(signal.SIGINT, self)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def _event_json(event: Event) -> dict:
    if isinstance(event, ReasoningDelta):
        return {"type": "reasoning", "text": event.text}
    if isinstance(event, AnswerDelta):
        return {"type": "answer", "text": event.text}
    if isinstance(event, PreambleDelta):
        return {"type": "preamble", "text": event.text}
    if isinstance(event, ToolCall):
        return {"type": "tool_call", "name": event.name, "arguments": event.arguments}
    assert isinstance(event, Done)
    return {"type": "done", "stats": event.stats.as_dict()}


def _printer(as_json: bool):
    state = {"reasoning": False}

    def on_event(event: Event) -> None:
        tool_event = tools_cli.event_json(event)
        if as_json:
            if tool_event is not None:
                print(json.dumps(tool_event, ensure_ascii=False), flush=True)
            elif not isinstance(event, Done):  # the last line carries the saved record instead
                print(json.dumps(_event_json(event), ensure_ascii=False), flush=True)
            return
        if tool_event is not None:
            tools_cli.print_event(event)
            return
        if isinstance(event, (ReasoningDelta, PreambleDelta)):
            state["reasoning"] = True
            sys.stderr.write(event.text)
            sys.stderr.flush()
        elif isinstance(event, AnswerDelta):
            if state["reasoning"]:
                sys.stderr.write("\n\n")
                state["reasoning"] = False
            sys.stdout.write(event.text)
            sys.stdout.flush()

    return on_event


def _plan_printer(as_json: bool):
    """The documents' context plan, before the answer: a JSON event, or a line on stderr."""
    def show(plan: dict) -> None:
        if as_json:
            print(json.dumps({"type": "plan", **plan}, ensure_ascii=False), flush=True)
        else:
            parts = [f"{d['name']}: {d['shown']}" for d in plan["documents"]]
            sys.stderr.write("Documents: " + "; ".join(parts) + "\n")
    return show


def _load(host: EngineHost, path: str, options: LoadOptions, interrupts: Interrupts) -> Engine:
    future = host.load(path, options, on_progress=lambda _f: not interrupts.cancel.is_set())
    try:
        engine = future.result()
        if engine.template_warning:
            sys.stderr.write(f"hearth: note: {engine.template_warning}\n")
        return engine
    except ModelTooLargeError as exc:
        raise UserError(f"{exc} (--allow-swap loads it anyway)") from exc


def _model_and_prefs(path: str | None):
    """The named model, or the app's default one, with its saved per-model settings."""
    from app.core import model_library
    from storage import default_data_dir
    from storage.db import DATABASE_FILENAME

    if not (default_data_dir() / DATABASE_FILENAME).exists():  # never create one just to read
        if path is None:
            raise UserError("no model given and no default model set: pass --model PATH, or "
                            "set one with `hearth models default PATH`")
        return path, model_library.ModelPrefs(), LoadOptions()
    with Store() as store:
        if path is None:
            default = model_library.default_model(store)
            if default is None:
                raise UserError("no model given and no default model set: pass --model PATH, or "
                                "set one with `hearth models default PATH`")
            path = str(default)
        return path, model_library.prefs(store, path), model_library.load_options(store, path)


def _request(args: argparse.Namespace, store: Store, model: str, prefs) -> TurnRequest:
    """The turn the arguments ask for, built by the same core as the window's."""
    if args.rerun is not None:
        return requests.replay_request(store, args.rerun)
    conversation_id = args.conversation
    if conversation_id is None:
        conversation_id = store.conversations.create().id
    elif store.conversations.get(conversation_id) is None:
        raise UserError(f"no saved conversation {conversation_id}")
    question, instructions = args.question, args.instructions
    preset_effort = preset_temperature = None
    if args.prompt:
        from app.cli.prompts import apply_prompt

        applied = apply_prompt(args.prompt, args.var, args.question)
        question, instructions = applied.text, applied.instructions or instructions
        preset_effort, preset_temperature = applied.effort, applied.temperature
    if not question.strip():
        raise UserError("nothing to ask: give the question after the options")
    attached = tuple(documents.ingest(store, path).id for path in args.attach)
    defaults = requests.defaults_for(store, conversation_id, model, prefs=prefs)
    # The same defaults as the window's (the model's settings over its recommended sampling,
    # then the chat's preset), then --prompt's temperature, then the flags.
    sampling, sources = defaults.sampling, dict(defaults.sources or {})
    chosen = [("temperature", preset_temperature, sampling_defaults.PRESET)]
    chosen += [(name, getattr(args, name), sampling_defaults.COMMAND_LINE)
               for name in sampling_defaults.FIELDS]
    for name, value, source in chosen:
        if value is not None:
            sampling = replace(sampling, **{name: value})
            sources[name] = source
    sampling = replace(sampling, seed=args.seed,
                       max_tokens=args.max_tokens if args.max_tokens is not None else sampling.max_tokens)
    return TurnRequest(conversation_id, question,
                       args.effort or preset_effort or defaults.effort,
                       instructions if instructions is not None else defaults.instructions,
                       sampling, attachments=attached,
                       **{**defaults.request_fields(), "sampling_sources": tuple(sorted(sources.items()))})


def cmd_chat(args: argparse.Namespace) -> int:
    if args.rerun is not None and (args.question or args.prompt or args.attach):
        raise UserError("--rerun replays a saved answer: give no question, prompt or attachment")
    if args.var and not args.prompt:
        raise UserError("--var needs --prompt NAME")
    save = args.save or args.conversation is not None or args.rerun is not None
    open_remote = None
    if args.endpoint:
        model, prefs, open_remote = remote_cli.prepare_chat(args)
    else:
        model, prefs, options = _model_and_prefs(args.model)
    interrupts = Interrupts()
    lock = startup.TurnsLock(default_data_dir()) if save else None
    tools = tools_cli.registry(args.mcp, args.search_url) if args.tools else None
    keys = tools_cli.parse_keys(args.tools, tools) if tools else []
    ask = (lambda _request: "once") if args.yes else tools_cli.terminal_approver(interrupts.cancel)
    host = EngineHost("hearth-turn", open_store=Store if save else (lambda: Store(":memory:")))
    printer = _printer(args.json)
    try:
        with interrupts.installed():
            try:
                if open_remote is not None:
                    host.load_engine(lambda _state: open_remote()).result()
                else:
                    _load(host, model, LoadOptions(n_ctx=args.ctx or prefs.n_ctx,
                                                   n_gpu_layers=options.n_gpu_layers,
                                                   allow_swap=args.allow_swap), interrupts)
            except LoadCancelled:
                return INTERRUPTED

            def turn(state: EngineState) -> tuple[TurnRequest, TurnResult]:
                if save:  # answers a killed run left `streaming` are marked, when no one writes
                    startup.tidy(state.store, lock)
                from app.core import model_library

                # The header the load just read says what the model recommends: not again.
                if open_remote is None:  # a remote model has no header here
                    model_library.remember_traits(model, state.require_engine().info)
                request = _request(args, state.store, model, prefs)
                toolbox = tools.toolbox(keys, request.conversation_id) if tools else None
                return request, run_turn(state.store, state.require_engine(), request,
                                         cancel=interrupts.cancel, on_event=printer,
                                         on_plan=_plan_printer(args.json),
                                         model_sha256=state.model_sha256, toolbox=toolbox,
                                         approvals=approvals_for(state.store,
                                                                 request.conversation_id, ask))

            request, result = _wait(host.submit(turn))
    finally:
        host.close()
        if tools is not None:
            tools.close()
        if lock is not None:
            lock.release()
    return _report(args, save, request, result)


def _wait(future: Future):
    # Future.result() returns to Python between waits, so the SIGINT handler runs at once.
    return future.result()


def _report(args, save: bool, request: TurnRequest, result: TurnResult) -> int:
    made = result.provenance
    if args.json:
        print(json.dumps({"type": "done", "status": result.status,
                          "conversation_id": request.conversation_id if save else None,
                          "message_id": result.message_id if save else None,
                          "error": result.error, "stats": made.to_json()}, ensure_ascii=False))
    elif result.answer and not result.answer.endswith("\n"):
        print()
    if made.dropped_messages and not args.json:
        sys.stderr.write(f"Note: the {made.dropped_messages} oldest messages did not fit the "
                         "context and were left out.\n")
    if made.rerun_outcome and not args.json:
        sys.stderr.write({"identical": "Re-run: identical to the original.\n",
                          "differs": "Re-run: differs from the original.\n",
                          "stopped": "Re-run: stopped before the end.\n"}[made.rerun_outcome])
    if result.status == "failed":
        raise UserError(result.error or "the turn failed")
    return INTERRUPTED if result.status == "cancelled" else 0


def add_parsers(sub) -> None:
    from common.values import EFFORTS

    chat = sub.add_parser("chat", help="ask one question, stream the reasoning and the answer")
    chat.add_argument("question", nargs="?")
    chat.add_argument("--model", help="path to a GGUF model (default: the app's default model); "
                                      "with --endpoint, the name of a model it serves")
    chat.add_argument("--effort", choices=EFFORTS, help="reasoning effort (default: the model's)")
    chat.add_argument("--json", action="store_true", help="one JSON object per event")
    chat.add_argument("--save", action="store_true", help="store the turn like the app does")
    chat.add_argument("--conversation", type=int, metavar="ID",
                      help="continue this saved conversation (implies --save)")
    chat.add_argument("--rerun", type=int, metavar="MESSAGE_ID",
                      help="replay a saved answer exactly (same settings, seed and date) as a "
                           "new branch, and say whether it came out identical")
    chat.add_argument("--instructions", help="developer instructions for the model")
    chat.add_argument("--prompt", metavar="NAME", help="apply a saved prompt (preset or quick)")
    chat.add_argument("--attach", action="append", default=[], metavar="FILE",
                      help="a document for the model (PDF, DOCX, HTML, Markdown, text, code, CSV);"
                           " repeatable")
    chat.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                      help="a value for one of the prompt's {{variables}} (repeatable)")
    chat.add_argument("--ctx", type=int, help="context size in tokens (default: the model's setting)")
    chat.add_argument("--temperature", type=float,
                      help="default: the model's setting, else its recommendation (its file's, "
                           "its model card's, else llama.cpp's)")
    chat.add_argument("--top-p", type=float)
    chat.add_argument("--top-k", type=int)
    chat.add_argument("--min-p", type=float)
    chat.add_argument("--allow-swap", action="store_true",
                      help="load even if the model will not fit in free memory")
    chat.add_argument("--tools", metavar="NAME,…",
                      help="tools the model may use (see `hearth tools list`), comma-separated")
    chat.add_argument("--mcp", metavar="FILE", help="MCP servers to offer tools from (mcp.json format)")
    chat.add_argument("--search-url", metavar="URL",
                      help="the browser tool's search service (a SearXNG address)")
    chat.add_argument("--yes", action="store_true",
                      help="allow every tool call without asking")
    chat.add_argument("--seed", type=int)
    chat.add_argument("--max-tokens", type=int)
    remote_cli.add_chat_arguments(chat)

