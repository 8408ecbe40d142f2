"""`hearth serve`: the model as an OpenAI-compatible API for other programs, without the window.

    hearth serve [--model PATH] [--port N] [--host ADDRESS] [--api-key-env VARIABLE]
                 [--record-chats]

The model loads on an engine thread of its own (app/core/engine_host.py), exactly as for
`hearth chat`; requests queue on it in the order they come. It listens on 127.0.0.1 unless
told otherwise; another address is said out loud, since other machines can then use the model.
"""

from __future__ import annotations

import argparse
import os
import sys

from app.cli.chat import _model_and_prefs
from app.core.engine_host import EngineHost
from app.core.server.backend import ApiBackend
from app.core.server.runner import DEFAULT_PORT, ApiServer, ServerSettings, lan_warning
from common.errors import UserError
from inference.runtime import LoadOptions, ModelTooLargeError
from storage import Store


def add_parser(sub) -> None:
    serve = sub.add_parser("serve", help="serve the model as an OpenAI-compatible API")
    serve.add_argument("--model", help="path to a GGUF model (default: the app's default model)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"the port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--api-key-env", metavar="VARIABLE",
                       help="require the API key held in this environment variable")
    serve.add_argument("--ctx", type=int, help="context size in tokens (default: the model's setting)")
    serve.add_argument("--record-chats", action="store_true",
                       help="keep each chat request and its answer as a chat in Hearth's database")
    serve.add_argument("--allow-swap", action="store_true",
                       help="load even if the model will not fit in free memory")


def cmd_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be from 0 to 65535, not {args.port}")
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise UserError(f"the environment variable {args.api_key_env} is not set (or empty)")
    path, prefs, options = _model_and_prefs(args.model)
    settings = ServerSettings(args.host, args.port, key)
    warning = lan_warning(settings)
    if warning:
        sys.stderr.write(f"hearth: warning: {warning}\n")
    server = None
    host = EngineHost("hearth-serve",
                      open_store=Store if args.record_chats or _have_database() else None)
    try:
        try:
            engine = host.load(path, LoadOptions(n_ctx=args.ctx or prefs.n_ctx,
                                                 n_gpu_layers=options.n_gpu_layers,
                                                 allow_swap=args.allow_swap)).result()
        except ModelTooLargeError as exc:
            raise UserError(f"{exc} (--allow-swap loads it anyway)") from exc
        backend = ApiBackend(host, record_chats=args.record_chats)
        server = ApiServer(backend, settings)
        model = backend.model()
        print(f"Serving {engine.name} as '{model.id}' ({model.n_ctx:,}-token context) at "
              f"{server.url}" + (" (an API key is required)" if key else ""), flush=True)
        print("Ctrl+C stops.", file=sys.stderr, flush=True)
        server.serve_forever()
    finally:
        if server is not None:
            server.backend.close()
        host.close()
    return 0


def _have_database() -> bool:
    from storage import default_data_dir
    from storage.db import DATABASE_FILENAME

    return (default_data_dir() / DATABASE_FILENAME).exists()
