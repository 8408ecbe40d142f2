"""`hearth prompts list|export|import`: the saved prompt library from a terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.cli.errors import CliError
from app.core import prompt_library
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
            raise CliError(str(exc)) from exc
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
