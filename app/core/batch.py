"""Batch runs, without Qt: a saved prompt over a set of documents, one row each.

A job is made once (`create_job`) from a saved prompt, the values of its fixed variables, an
optional JSON schema, settings and a list of files; from then on it lives in SQLite
(storage/batches.py) and runs on the engine's thread (app/core/batch_run.py `BatchRun`),
from the window or `hearth batch`, and resumes after a quit or a kill.

Per document the prompt gets `{{document}}` (its text, or the passages that fit, as the
document plan decides), `{{filename}}` and `{{path}}`; a prompt that names none of them gets
the document after its text (a quick prompt) or as the message (a preset).

Where the documents come from is a list of paths: files, folders (read recursively) and glob
patterns all expand here (`expand_sources`), and a library folder is one more source of paths.
"""

from __future__ import annotations

import csv
import datetime as _dt
import glob
import hashlib
import io
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from common.errors import UserError
from storage import Store
from storage.batches import Batches, Job, Row, spec_digest
from storage.prompts import Prompt

from .batch_schema import column_names

PER_DOCUMENT = ("document", "filename", "path")
MAX_DOCUMENTS = 100_000


@dataclass(frozen=True)
class BatchSettings:
    model: str = ""  # the model's path (or remote:… name) the job was made for
    temperature: float = 0.0  # greedy unless asked: a batch is an extraction, repeatable
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    seed: int | None = None  # None: one is drawn when the job is made, and kept
    max_tokens: int = 1024  # per answer (gpt-oss's reasoning included)
    n_ctx_per_seq: int = 4096  # each document's prompt and answer together
    parallel: int | None = None  # sequences in flight; None: batch_run.default_parallel
    retries: int = 2  # more tries for an answer that does not validate
    effort: str = "low"  # gpt-oss's reasoning effort
    reasoning: bool = True  # gpt-oss: False starts the answer in the final channel at once


class BatchError(UserError):
    """A batch that cannot be made or run as asked; the message is for the user."""


def prompt_snapshot(prompt: Prompt) -> dict:
    return {"name": prompt.name, "kind": prompt.kind, "body": prompt.body,
            "effort": prompt.effort, "temperature": prompt.temperature}


def prompt_from_snapshot(snapshot: dict) -> Prompt:
    return Prompt(0, snapshot["name"], snapshot["kind"], snapshot["body"],
                  effort=snapshot.get("effort"), temperature=snapshot.get("temperature"))


def make_spec(prompt: Prompt, values: dict, schema: dict | None,
              settings: BatchSettings, today: _dt.date | None = None) -> dict:
    """Everything a job needs to run again the same way, JSON-ready."""
    from .prompt_library import PromptVariableError, fill, variables

    fixed = {k: v for k, v in values.items() if k not in PER_DOCUMENT}
    wanted = {v.name for v in variables(prompt.body)}
    probe = {**fixed, **{name: name for name in PER_DOCUMENT if name in wanted}}
    try:  # the fixed values are checked now, not at the first document
        fill(prompt, probe, builtins={"clipboard": "-", "selection": "-"})
    except PromptVariableError as exc:
        raise BatchError(str(exc)) from None
    if schema is not None:
        from inference.structured import grammar_for_schema

        grammar_for_schema(schema)  # a schema that cannot become a grammar: said now
    if settings.seed is None:
        settings = BatchSettings(**{**asdict(settings), "seed": random.randrange(2**31)})
    return {"version": 1, "prompt": prompt_snapshot(prompt), "values": fixed, "schema": schema,
            "settings": asdict(settings), "date": (today or _dt.date.today()).isoformat()}


def settings_of(spec: dict) -> BatchSettings:
    known = {k: v for k, v in (spec.get("settings") or {}).items()
             if k in BatchSettings.__dataclass_fields__}
    return BatchSettings(**known)


# -- where the documents come from --------------------------------------------------------


def expand_sources(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders (every file below, hidden ones left out) and glob patterns, as one
    sorted list without repeats. A path that does not exist stays in the list (its row will
    say so); a pattern that matches nothing is an error."""
    found: list[Path] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found += sorted(p for p in _walk(path))
        elif not path.exists() and glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise BatchError(f"No file matches {text}.")
            found += files
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    if not unique:
        raise BatchError("No documents: name files, folders or a pattern such as 'docs/*.pdf'.")
    if len(unique) > MAX_DOCUMENTS:
        raise BatchError(f"{len(unique):,} documents is more than a batch takes "
                         f"({MAX_DOCUMENTS:,}).")
    return unique


def _walk(folder: Path):
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def library_paths(store: Store, folder: str) -> list[Path]:
    """The files of a library folder (by path or name), as its index lists them: a library
    folder is one more source of paths. Files it skipped are kept: their rows say why."""
    from storage.library.folders import Library

    library = Library(store)
    found = library.find(folder)
    if not found:
        names = ", ".join(f.name for f in library.folders()) or "none"
        raise BatchError(f"No library folder named {folder!r}; library folders: {names}.")
    if len(found) > 1:
        raise BatchError(f"{folder!r} names {len(found)} library folders: give its path.")
    root = Path(found[0].path)
    return sorted(root / f.path for f in library.files(found[0].id))


# -- jobs -----------------------------------------------------------------------------------


def create_job(store: Store, spec: dict, paths: Sequence[Path], out_path: str | None = None,
               name: str | None = None) -> Job:
    label = name or f"{spec['prompt']['name']} × {len(paths)} documents"
    return Batches(store).create(label, spec, [str(p) for p in paths], out_path)


def job_for_output(store: Store, spec: dict, paths: Sequence[Path], out_path: str,
                   restart: bool = False) -> tuple[Job, bool]:
    """The job writing `out_path`: the one started before with the same spec and documents
    (resumed: True), or a new one. A different batch writing there earlier is an error
    unless `restart`, which starts this one afresh."""
    batches = Batches(store)
    previous = batches.for_output(out_path)
    same = previous is not None and _same_job(batches, previous, spec, paths)
    if same and not restart:
        return previous, True
    if previous is not None and not restart and previous.status != "done":
        raise BatchError(f"{out_path} belongs to another batch that has not finished (another "
                         "prompt, values, schema, settings or documents); --restart starts "
                         "this one there instead.")
    return create_job(store, spec, paths, out_path), False


def _same_job(batches: Batches, job: Job, spec: dict, paths: Sequence[Path]) -> bool:
    mine = {**spec, "date": None, "settings": {**spec["settings"], "seed": None}}
    theirs = {**job.spec, "date": None, "settings": {**job.spec.get("settings", {}), "seed": None}}
    if spec_digest(mine) != spec_digest(theirs):
        return False
    return [r.path for r in batches.rows(job.id)] == [str(p) for p in paths]


# -- export ---------------------------------------------------------------------------------


def table(job: Job, rows: Sequence[Row]) -> tuple[list[str], list[list]]:
    """The header and the rows as the window and the CSV show them."""
    columns = column_names(job.spec.get("schema"))
    header = ["file", "status", *columns, "reason", "prompt_tokens", "generated_tokens", "seconds"]
    body = []
    for row in rows:
        values = [row.columns.get(c, "") if row.status == "done" else "" for c in columns]
        body.append([row.path, row.status, *[_cell(v) for v in values], row.reason or "",
                     row.prompt_tokens, row.generated_tokens, round(row.seconds, 3)])
    return header, body


def _cell(value) -> str | int | float:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def export(store: Store, job_id: int, target: str | os.PathLike) -> int:
    """Write the job's rows to `target`: CSV, or JSONL (one object a row with its record)
    when the name ends in .jsonl or .json. Written beside and moved over the old file, so a
    reader (or a kill) never sees half a file. Returns the number of rows."""
    batches = Batches(store)
    job = batches.get(job_id)
    if job is None:
        raise BatchError(f"No batch {job_id}.")
    rows = batches.rows(job_id)
    target = Path(target)
    if target.suffix.lower() in (".jsonl", ".json"):
        text = "".join(json.dumps(_json_row(r), ensure_ascii=False) + "\n" for r in rows)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        header, body = table(job, rows)
        writer.writerow(header)
        writer.writerows(body)
        text = buffer.getvalue()
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        raise BatchError(f"Hearth could not write {target}: {exc.strerror or exc}.") from None
    return len(rows)


def _json_row(row: Row) -> dict:
    return {"file": row.path, "status": row.status, "columns": row.columns if row.status == "done"
            else {}, "answer": row.answer, "reason": row.reason, "attempts": row.attempts,
            "prompt_tokens": row.prompt_tokens, "generated_tokens": row.generated_tokens,
            "seconds": round(row.seconds, 3), "record": row.record}


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_as_chat(store: Store, row_id: int) -> int:
    """A conversation holding the row's question (the prompt filled with its document) and its
    answer, to follow up in the window. Returns the conversation's id."""
    from .prompt_library import apply, variables

    batches = Batches(store)
    row = batches.row(row_id)
    if row is None or row.status != "done":
        raise BatchError("Only a finished row can be opened as a chat.")
    job = batches.get(row.job_id)
    prompt = prompt_from_snapshot(job.spec["prompt"])
    document = store.documents.find(row.record.get("document_sha256") or "")
    text = ""
    if document is not None:
        chunks = store.documents.chunks(document.id)
        text = "".join(c.text[c.overlap if i else 0:] for i, c in enumerate(chunks))
    wanted = {v.name for v in variables(prompt.body)}
    per_doc = {"document": text or Path(row.path).name, "filename": Path(row.path).name,
               "path": row.path}
    values = {**job.spec.get("values", {}), **{k: v for k, v in per_doc.items() if k in wanted}}
    applied = apply(prompt, values, text="" if "document" in wanted else per_doc["document"],
                    builtins={"date": job.spec.get("date") or _dt.date.today().isoformat()})
    question = applied.text if applied.instructions is None else (
        f"{applied.instructions}\n\n{applied.text}")
    with store.transaction():
        chat = store.conversations.create(f"{prompt.name}: {Path(row.path).name}")
        _user, answer = store.messages.add_turn(chat.id, question,
                                                model_name=row.record.get("model"),
                                                model_sha256=row.record.get("model_sha256"))
        store.messages.update(answer.id, content=row.answer, reasoning=row.reasoning,
                              status="complete", stats={"batch_row": row.record})
    return chat.id
