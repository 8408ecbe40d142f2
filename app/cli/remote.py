"""`hearth chat --endpoint URL --model NAME` and `hearth models list --endpoint URL`: a model
served elsewhere (vLLM, llama-server, Ollama, LM Studio, another Hearth), through the same
turn as a local one.

The API key comes from the variable `--api-key-env` names, else from the keyring when the
address is an endpoint saved in Settings → Engines; it is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable

from app.core import engines, model_library
from common.errors import UserError
from inference.remote import MODES, RemoteEngine
from storage import Store


def add_chat_arguments(chat: argparse.ArgumentParser) -> None:
    chat.add_argument("--endpoint", metavar="URL",
                      help="an OpenAI-compatible server to run the model on (e.g. "
                           "http://gpu-box:8000/v1); --model then names one it serves")
    chat.add_argument("--api-key-env", metavar="VARIABLE",
                      help="the environment variable that holds the endpoint's API key")
    chat.add_argument("--mode", choices=MODES,
                      help="harmony: Hearth renders gpt-oss's prompts itself (/v1/completions); "
                           "chat: the server's chat API (default: harmony for gpt-oss)")


def add_list_arguments(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--endpoint", metavar="URL", help="list what this server serves instead")
    listing.add_argument("--api-key-env", metavar="VARIABLE",
                         help="the environment variable that holds the endpoint's API key")


def key_for(url: str, variable: str | None) -> str | None:
    if variable:
        value = os.environ.get(variable)
        if not value:
            raise UserError(f"the environment variable {variable} is not set (or empty)")
        return value
    return engines.api_key(url)


def prepare_chat(args: argparse.Namespace) -> tuple[str, model_library.ModelPrefs,
                                                     Callable[[], RemoteEngine]]:
    """The remote model's reference, its settings, and how to open it (on the engine thread)."""
    if not args.model:
        raise UserError("--endpoint needs --model NAME: `hearth models list --endpoint URL` "
                        "shows what it serves")
    ref = engines.ref(args.endpoint, args.model)
    key = key_for(args.endpoint, args.api_key_env)
    prefs = model_library.ModelPrefs()
    if _have_database():
        with Store() as store:
            prefs = model_library.prefs(store, ref)
    if args.ctx:
        from dataclasses import replace

        prefs = replace(prefs, n_ctx=args.ctx)

    def open_engine() -> RemoteEngine:
        store = Store() if _have_database() else None
        try:
            engine = engines.open_engine(store, ref, api_key_override=key, mode=args.mode)
        finally:
            if store is not None:
                store.close()
        if engine.template_warning:
            sys.stderr.write(f"hearth: note: {engine.template_warning}\n")
        return engine

    return ref, prefs, open_engine


def cmd_list(args: argparse.Namespace) -> int:
    models = engines.remote_models(args.endpoint, key_for(args.endpoint, args.api_key_env))
    if args.json:
        for m in models:
            print(json.dumps({"id": m.id, "context_length": m.n_ctx, "owned_by": m.owned_by or None,
                              "ref": engines.ref(args.endpoint, m.id)}, ensure_ascii=False))
        return 0
    if not models:
        print(f"{args.endpoint} serves no models.")
        return 0
    width = max(len(m.id) for m in models)
    print(f"{'MODEL'.ljust(width)}  CONTEXT")
    for m in models:
        print(f"{m.id.ljust(width)}  {f'{m.n_ctx:,}' if m.n_ctx else '?'}")
    return 0


def _have_database() -> bool:
    from storage import default_data_dir
    from storage.db import DATABASE_FILENAME

    return (default_data_dir() / DATABASE_FILENAME).exists()
