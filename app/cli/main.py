"""`hearth`: the command line beside the window, with no Qt import.

    hearth chat [--model PATH] [--effort low|medium|high] [--json] [--save] "question"
    hearth render [--model PATH] [--effort ...] < conversation.json
    hearth models list [--json]            every GGUF on this machine, with its memory fit
    hearth models pull REPO FILE           download from Hugging Face (Ctrl+C, then resume)
    hearth models default [PATH]           show or set the model used when none is named
    hearth prompts list|export|import      the saved prompt library
    hearth chat --prompt NAME --var k=v …  apply a saved prompt exactly as the window does

`chat` runs the same turn code as the window (app.turns); without --save it keeps the turn
in a throwaway in-memory database. Reasoning goes to stderr, the answer to stdout, so
`hearth chat ... > answer.md` captures just the answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading

from app.cli.errors import CliError
from app.core import documents
from app.core.turns import TurnRequest, run_turn
from common.values import EFFORTS
from inference.chat_format import ChatTemplateError
from inference.events import AnswerDelta, Done, Event, ReasoningDelta, ToolCall
from inference.runtime import Engine, LoadOptions, ModelLoadError, ModelTooLargeError
from inference.sampling import Sampling


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth's command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="ask one question, stream the reasoning and the answer")
    chat.add_argument("question")
    chat.add_argument("--model", help="path to a GGUF model (default: the app's default model)")
    chat.add_argument("--effort", choices=EFFORTS, help="reasoning effort (default: the model's)")
    chat.add_argument("--json", action="store_true", help="one JSON object per event")
    chat.add_argument("--save", action="store_true", help="store the turn like the app does")
    chat.add_argument("--conversation", type=int, metavar="ID",
                      help="continue this saved conversation (implies --save)")
    chat.add_argument("--instructions", help="developer instructions for the model")
    chat.add_argument("--prompt", metavar="NAME", help="apply a saved prompt (preset or quick)")
    chat.add_argument("--attach", action="append", default=[], metavar="FILE",
                      help="a document for the model (PDF, DOCX, HTML, Markdown, text, code, CSV);"
                           " repeatable")
    chat.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                      help="a value for one of the prompt's {{variables}} (repeatable)")
    chat.add_argument("--ctx", type=int, help="context size in tokens (default: the model's setting)")
    chat.add_argument("--temperature", type=float)
    chat.add_argument("--top-p", type=float)
    chat.add_argument("--allow-swap", action="store_true",
                      help="load even if the model will not fit in free memory")
    chat.add_argument("--seed", type=int)
    chat.add_argument("--max-tokens", type=int)

    render = sub.add_parser("render", help="print the exact prompt a conversation (JSON on stdin) becomes")
    render.add_argument("--model", help="path to a GGUF model (default: the app's default model)")
    render.add_argument("--effort", choices=EFFORTS, default="medium")

    models = sub.add_parser("models", help="list, download and choose models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="every GGUF found on this machine")
    listing.add_argument("--json", action="store_true", help="one JSON object per model")
    pull = models_sub.add_parser("pull", help="download a GGUF from Hugging Face (resumable)")
    pull.add_argument("repo", help="e.g. ggml-org/gpt-oss-20b-GGUF")
    pull.add_argument("file", help="e.g. gpt-oss-20b-mxfp4.gguf")
    pull.add_argument("--revision", default="main")
    default = models_sub.add_parser("default", help="show or set the default model")
    default.add_argument("path", nargs="?")

    prompts = sub.add_parser("prompts", help="the saved prompt library")
    prompts_sub = prompts.add_subparsers(dest="prompts_command", required=True)
    plist = prompts_sub.add_parser("list", help="every saved prompt")
    plist.add_argument("--json", action="store_true")
    pexport = prompts_sub.add_parser("export", help="write the library to a JSON file or a folder")
    pexport.add_argument("target")
    pexport.add_argument("--format", choices=("json", "md"), help="default: from the target's name")
    pimport = prompts_sub.add_parser("import", help="read prompts from a JSON file or a folder of .md")
    pimport.add_argument("source")
    return parser


def _event_json(event: Event) -> dict:
    if isinstance(event, ReasoningDelta):
        return {"type": "reasoning", "text": event.text}
    if isinstance(event, AnswerDelta):
        return {"type": "answer", "text": event.text}
    if isinstance(event, ToolCall):
        return {"type": "tool_call", "name": event.name, "arguments": event.arguments}
    assert isinstance(event, Done)
    return {"type": "done", "stats": event.stats.as_dict()}


def _printer(as_json: bool):
    state = {"reasoning": False}

    def on_event(event: Event) -> None:
        if as_json:
            if not isinstance(event, Done):  # the last line carries the saved stats instead
                print(json.dumps(_event_json(event), ensure_ascii=False), flush=True)
            return
        if isinstance(event, ReasoningDelta):
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


def _load(path: str, **options) -> Engine:
    try:
        return Engine(path, LoadOptions(**options))
    except ModelTooLargeError as exc:
        raise CliError(f"{exc} (--allow-swap loads it anyway)") from exc
    except ModelLoadError as exc:
        raise CliError(str(exc)) from exc


def _model_and_prefs(path: str | None):
    """The named model, or the app's default one, with its saved per-model settings."""
    from app.core import model_library
    from storage import Store, default_data_dir
    from storage.db import DATABASE_FILENAME

    if not (default_data_dir() / DATABASE_FILENAME).exists():  # never create one just to read
        if path is None:
            raise CliError("no model given and no default model set: pass --model PATH, or "
                           "set one with `hearth models default PATH`")
        return path, model_library.ModelPrefs(), LoadOptions()
    with Store() as store:
        if path is None:
            default = model_library.default_model(store)
            if default is None:
                raise CliError("no model given and no default model set: pass --model PATH, or "
                               "set one with `hearth models default PATH`")
            path = str(default)
        return path, model_library.prefs(store, path), model_library.load_options(store, path)


def cmd_chat(args: argparse.Namespace) -> int:
    from storage import Store  # here, so `hearth render` never touches the database

    save = args.save or args.conversation is not None
    model, prefs, options = _model_and_prefs(args.model)
    question, instructions = args.question, args.instructions
    preset_effort = preset_temperature = None
    if args.prompt:
        applied = _apply_prompt(args.prompt, args.var, args.question)
        question = applied.text
        instructions = applied.instructions or instructions
        preset_effort, preset_temperature = applied.effort, applied.temperature
    elif args.var:
        raise CliError("--var needs --prompt NAME")
    if not question.strip():
        raise CliError("nothing to ask: give the question after the options")
    effort = args.effort or preset_effort or prefs.effort
    default_temperature = prefs.temperature if preset_temperature is None else preset_temperature
    sampling = Sampling(temperature=default_temperature if args.temperature is None else args.temperature,
                        top_p=prefs.top_p if args.top_p is None else args.top_p,
                        seed=args.seed, max_tokens=args.max_tokens)
    engine = _load(model, n_ctx=args.ctx or prefs.n_ctx, n_gpu_layers=options.n_gpu_layers,
                   allow_swap=args.allow_swap)
    cancel = threading.Event()
    printer = _printer(args.json)
    outcome: dict = {}

    def work() -> None:
        # The turn runs beside the main thread so that Ctrl+C can cancel it cleanly; the Store
        # is opened here because an SQLite connection belongs to the thread that made it.
        try:
            with (Store() if save else Store(":memory:")) as store:
                conversation_id = args.conversation
                if conversation_id is None:
                    conversation_id = store.conversations.create().id
                elif store.conversations.get(conversation_id) is None:
                    raise CliError(f"no saved conversation {conversation_id}")
                outcome["conversation_id"] = conversation_id
                attached = []
                for path in args.attach:  # the same library and plan as the window's
                    try:
                        attached.append(documents.ingest(store, path).id)
                    except documents.DocumentError as exc:
                        raise CliError(str(exc)) from exc
                request = TurnRequest(conversation_id, question, effort, instructions, sampling,
                                      attachments=tuple(attached))
                outcome["result"] = run_turn(store, engine, request, cancel=cancel, on_event=printer,
                                             on_plan=_plan_printer(args.json))
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="hearth-turn")
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        cancel.set()
        worker.join()
    finally:
        engine.close()
    if "error" in outcome:
        raise outcome["error"]
    result, conversation_id = outcome["result"], outcome["conversation_id"]
    if args.json:
        print(json.dumps({"type": "done", "status": result.status, "conversation_id": conversation_id
                          if save else None, "message_id": result.message_id if save else None,
                          "error": result.error, "stats": result.stats}, ensure_ascii=False))
    elif result.answer and not result.answer.endswith("\n"):
        print()
    if result.status == "failed":
        raise CliError(result.error or "the turn failed")
    return 130 if result.status == "cancelled" else 0


def _apply_prompt(name: str, pairs: list[str], text: str):
    """A saved prompt applied to this message, as the window applies it."""
    from app.core import prompt_library
    from storage import Store
    from storage.prompts import PromptError

    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--var {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value
    with Store() as store:
        prompt_library.ensure_starters(store)
        prompt = store.prompts.by_name(name)
        if prompt is None:
            names = ", ".join(p.name for p in store.prompts.list())
            raise CliError(f"no saved prompt named {name!r}; saved: {names or 'none'}")
        builtins = {k: values.pop(k) for k in ("clipboard", "selection") if k in values}
        try:
            return prompt_library.apply(prompt, values, text, builtins)
        except (prompt_library.PromptVariableError, PromptError) as exc:
            raise CliError(str(exc)) from exc


def cmd_render(args: argparse.Namespace) -> int:
    model = args.model or _model_and_prefs(None)[0]
    try:
        conversation = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        raise CliError(f"stdin is not JSON: {exc}") from exc
    if not isinstance(conversation, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in conversation):
        raise CliError('expected a JSON list of {"role", "content", "thinking"?} objects')
    engine = _load(model, vocab_only=True)
    try:
        sys.stdout.write(engine.render(conversation, args.effort))
    except ChatTemplateError as exc:
        raise CliError(str(exc)) from exc
    finally:
        engine.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # llama.cpp's own log stays quiet: a failure's reason is in our one-line error already.
    logging.getLogger("llama.cpp").addHandler(logging.NullHandler())
    logging.getLogger("llama.cpp").propagate = False
    try:
        if args.command == "models":
            from app.cli.models import run

            return run(args)
        if args.command == "prompts":
            from app.cli.prompts import run as run_prompts

            return run_prompts(args)
        return {"chat": cmd_chat, "render": cmd_render}[args.command](args)
    except CliError as exc:
        print(f"hearth: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
