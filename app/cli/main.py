"""`hearth`: the command line beside the window, with no Qt import.

    hearth chat [--model PATH] [--effort low|medium|high] [--json] [--save] "question"
    hearth chat --rerun MESSAGE_ID         replay a saved answer exactly, as a new branch
    hearth render [--model PATH] [--effort ...] [--tools FILE] [--date D] < conversation.json
    hearth tools list [--mcp FILE] [--json]  every tool the model could be offered
    hearth chat --tools NAME,… [--yes] "…"  let the model use tools (asks before risky calls)
    hearth models list [--json]            every GGUF on this machine, with its memory fit
    hearth models pull REPO FILE           download from Hugging Face (Ctrl+C, then resume)
    hearth models default [PATH]           show or set the model used when none is named
    hearth prompts list|export|import      the saved prompt library
    hearth chat --prompt NAME --var k=v …  apply a saved prompt exactly as the window does
    hearth chat --endpoint URL --model NAME "…"  the same turn on a model served elsewhere
    hearth models list --endpoint URL      what an OpenAI-compatible server serves
    hearth serve [--model PATH] [--port N] the model as an OpenAI-compatible API
    hearth library add|remove|list|status|reindex   folders indexed and searched
    hearth search QUERY [--json]           chats and library passages, as Ctrl+K finds them
    hearth batch --prompt NAME --out results.csv FILES…  a saved prompt over many documents

`chat` runs the same turn code as the window (app.core.turns); without --save it keeps the
turn in a throwaway in-memory database. Reasoning goes to stderr, the answer to stdout, so
`hearth chat ... > answer.md` captures just the answer.

A UserError (a bad model file, a document Hearth cannot read, ...) is one line on stderr and
exit status 1; anything else is a bug: its traceback goes to the log file, and the line says
where.
"""

from __future__ import annotations

import argparse
import logging
import sys

from app.cli import batch, chat, library, models, prompts, render, search, serve, tools
from app.core import logs
from common.errors import UserError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="Hearth's command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    chat.add_parsers(sub)
    render.add_parser(sub)
    models.add_parser(sub)
    tools.add_parser(sub)
    prompts.add_parser(sub)
    serve.add_parser(sub)
    library.add_parser(sub)
    search.add_parser(sub)
    batch.add_parser(sub)
    return parser


def _check_storage() -> None:
    """Open the database once as the window does at start (a damaged one is set aside and a
    new one started, a read-only folder opened read-only), and say so in one line."""
    from storage import default_data_dir, open_store
    from storage.db import DATABASE_FILENAME

    if not (default_data_dir() / DATABASE_FILENAME).exists():
        return  # nothing to check; commands that need one create it
    store, report = open_store()
    store.close()
    if report.notice:
        print(f"hearth: note: {report.notice}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "chat" and args.question is None and args.rerun is None:
        parser.error("the following arguments are required: question (or --rerun MESSAGE_ID)")
    # llama.cpp's own log stays quiet: a failure's reason is in our one-line error already.
    logging.getLogger("llama.cpp").addHandler(logging.NullHandler())
    logging.getLogger("llama.cpp").propagate = False
    try:
        if args.command != "render":  # render never opens the database
            _check_storage()
        if args.command == "models":
            return models.run(args)
        if args.command == "prompts":
            return prompts.run(args)
        if args.command == "tools":
            return tools.run(args)
        if args.command == "library":
            return library.run(args)
        if args.command == "search":
            return search.cmd_search(args)
        return {"chat": chat.cmd_chat, "render": render.cmd_render, "serve": serve.cmd_serve,
                "batch": batch.cmd_batch}[args.command](args)
    except UserError as exc:
        print(f"hearth: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return chat.INTERRUPTED
    except Exception as exc:  # a bug: the details go to the log, not at the user
        where = logs.record_bug(exc, f"hearth {' '.join(sys.argv[1:] if argv is None else argv)}")
        print(f"hearth: error: something went wrong inside Hearth ({type(exc).__name__}: {exc}). "
              f"Details: {where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
