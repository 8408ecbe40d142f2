"""`hearth prompts list|export|import`: the saved prompt library from a terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.core import prompt_library
from common.errors import UserError
from storage import Store


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        prompt_library.ensure_starters(store)
        if args.prompts_command == "list":
            return _list(store, args.json)
        if args.prompts_command == "export":
            target = Path(args.target)
            fmt = args.format or ("json" if target.suffix.lower() == ".json" else "md")
            count = prompt_library.export_library(store, target, fmt)
            print(f"{count} prompts written to {target}")
            return 0
        try:
            added, updated = prompt_library.import_library(store, Path(args.source))
        except prompt_library.PromptImportError as exc:
            raise UserError(str(exc)) from exc
        print(f"{added} added, {updated} updated (their earlier text kept as a version)")
        return 0


def _list(store: Store, as_json: bool) -> int:
    prompts = store.prompts.list()
    if as_json:
        for p in prompts:
            row = {**p.fields(), "id": p.id,
                   "variables": [v.name for v in prompt_library.variables(p.body)]}
            print(json.dumps(row, ensure_ascii=False))
        return 0
    width = max((len(p.name) for p in prompts), default=4)
    for p in prompts:
        variables = ", ".join(v.name for v in prompt_library.variables(p.body))
        star = "★" if p.favourite else " "
        print(f"{star} {p.name.ljust(width)}  {p.kind:<6}  {', '.join(p.tags):<18}  {variables}")
    return 0


def apply_prompt(name: str, pairs: list[str], text: str):
    """A saved prompt applied to this message, as the window applies it."""
    from app.core import prompt_library
    from storage import Store
    from storage.prompts import PromptError

    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--var {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value
    with Store() as store:
        prompt_library.ensure_starters(store)
        prompt = store.prompts.by_name(name)
        if prompt is None:
            names = ", ".join(p.name for p in store.prompts.list())
            raise UserError(f"no saved prompt named {name!r}; saved: {names or 'none'}")
        builtins = {k: values.pop(k) for k in ("clipboard", "selection") if k in values}
        try:
            return prompt_library.apply(prompt, values, text, builtins)
        except (prompt_library.PromptVariableError, PromptError) as exc:
            raise UserError(str(exc)) from exc


def add_parser(sub) -> None:
    prompts = sub.add_parser("prompts", help="the saved prompt library")
    prompts_sub = prompts.add_subparsers(dest="prompts_command", required=True)
    plist = prompts_sub.add_parser("list", help="every saved prompt")
    plist.add_argument("--json", action="store_true")
    pexport = prompts_sub.add_parser("export", help="write the library to a JSON file or a folder")
    pexport.add_argument("target")
    pexport.add_argument("--format", choices=("json", "md"), help="default: from the target's name")
    pimport = prompts_sub.add_parser("import", help="read prompts from a JSON file or a folder of .md")
    pimport.add_argument("source")
