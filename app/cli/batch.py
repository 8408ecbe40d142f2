"""`hearth batch`: a saved prompt over many documents, into a CSV or JSONL table.

    hearth batch --prompt NAME [--var k=v …] [--schema FILE] --out results.csv [--parallel N] FILES…

FILES are files, folders (read recursively) or quoted glob patterns. The job lives in the
database (app/core/batch.py); running the same command again with the same --out resumes it
where it stopped (Ctrl+C, a kill, a crash), redoing only the documents not finished.
A progress line goes to stderr; the table is written (whole, atomically) every few seconds
and at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.cli.chat import INTERRUPTED, Interrupts, _load, _model_and_prefs
from app.core import batch as core
from app.core.batch_run import Progress, run_job
from app.core.batch_schema import load_schema
from app.core.engine_host import EngineHost, EngineState
from common.errors import UserError
from common.units import format_duration
from inference.runtime import LoadCancelled, LoadOptions
from storage import Store

EXPORT_EVERY_S = 5.0


def _values(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--var {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


def _schema(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the schema {path}: {getattr(exc, 'strerror', None) or exc}")
    return load_schema(text)


def _settings(args, model: str) -> core.BatchSettings:
    given = {"model": model, "temperature": args.temperature, "top_p": args.top_p,
             "top_k": args.top_k, "min_p": args.min_p, "seed": args.seed,
             "max_tokens": args.max_tokens, "n_ctx_per_seq": args.ctx_per_doc,
             "parallel": args.parallel, "retries": args.retries, "effort": args.effort}
    if args.no_reasoning:
        given["reasoning"] = False
    return core.BatchSettings(**{k: v for k, v in given.items() if v is not None})


def _line(progress: Progress) -> str:
    parts = [f"{progress.finished}/{progress.total} rows"]
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    parts.append(f"{progress.tokens_per_s:.1f} tok/s")
    if progress.seconds_left is not None and progress.finished < progress.total:
        parts.append(f"about {format_duration(progress.seconds_left)} left")
    return "  ".join(parts)


def cmd_batch(args: argparse.Namespace) -> int:
    if args.parallel is not None and not 1 <= args.parallel <= 64:
        raise UserError("--parallel takes 1 to 64")
    values = _values(args.var)
    schema = _schema(args.schema)
    sources = list(args.files)
    if args.library:
        with Store() as store:
            for folder in args.library:
                sources += core.library_paths(store, folder)
    if not sources:
        raise UserError("no documents: name files, folders or patterns, or --library FOLDER")
    paths = core.expand_sources(sources)
    out = str(Path(args.out).expanduser().absolute())
    if not Path(out).parent.is_dir():
        raise UserError(f"no folder {Path(out).parent} for --out")
    model, prefs, options = _model_and_prefs(args.model)
    with Store() as store:
        from app.core import prompt_library

        prompt_library.ensure_starters(store)
        prompt = store.prompts.by_name(args.prompt)
        if prompt is None:
            names = ", ".join(p.name for p in store.prompts.list())
            raise UserError(f"no saved prompt named {args.prompt!r}; saved: {names or 'none'}")
        spec = core.make_spec(prompt, values, schema, _settings(args, model))
        job, resumed = core.job_for_output(store, spec, paths, out, restart=args.restart)
        if resumed:
            counts = store_counts(store, job.id)
            sys.stderr.write(f"Resuming: {counts.finished} of {counts.total} rows already "
                             "done.\n")
    settings = core.settings_of(job.spec)
    interrupts = Interrupts()
    host = EngineHost("hearth-batch")
    last = {"export": 0.0, "line": ""}

    def show(progress: Progress) -> None:
        line = _line(progress)
        sys.stderr.write("\r" + line.ljust(len(last["line"])))
        sys.stderr.flush()
        last["line"] = line

    try:
        with interrupts.installed():
            try:
                # The batch decodes in a context of its own (inference/batch_decode.py): the
                # engine's serves only to render and tokenize, so it is kept small.
                _load(host, model, LoadOptions(n_ctx=512,
                                               n_gpu_layers=options.n_gpu_layers,
                                               allow_swap=args.allow_swap), interrupts)
            except LoadCancelled:
                return INTERRUPTED

            def work(state: EngineState) -> bool:
                sha = state.store.model_files.sha256(model)

                def progress(p: Progress) -> None:
                    show(p)
                    now = time.monotonic()
                    if now - last["export"] >= EXPORT_EVERY_S:
                        core.export(state.store, job.id, out)
                        last["export"] = now

                try:
                    return run_job(state.store, state.require_engine(), job.id,
                                   stop=interrupts.cancel, model_sha256=sha,
                                   on_progress=progress)
                finally:
                    core.export(state.store, job.id, out)

            finished = host.submit(work).result()
    finally:
        host.close()
        if last["line"]:
            sys.stderr.write("\n")
    with Store() as store:
        counts = store_counts(store, job.id)
    if not finished:
        sys.stderr.write(f"Stopped: {counts.finished} of {counts.total} rows done; the same "
                         "command resumes.\n")
        return INTERRUPTED
    failed = f", {counts.failed} failed (reasons in the table)" if counts.failed else ""
    sys.stderr.write(f"Done: {counts.done} rows{failed} → {out}\n")
    return 0


def store_counts(store: Store, job_id: int):
    from storage.batches import Batches

    return Batches(store).counts(job_id)


def add_parser(sub) -> None:
    from common.values import EFFORTS

    p = sub.add_parser("batch", help="run a saved prompt over many documents into a table")
    p.add_argument("files", nargs="*", metavar="FILES",
                   help="files, folders (read recursively) or quoted patterns such as 'a/*.pdf'")
    p.add_argument("--library", action="append", default=[], metavar="FOLDER",
                   help="the files of a library folder (its path or name; repeatable)")
    p.add_argument("--prompt", required=True, metavar="NAME", help="the saved prompt to apply")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                   help="a value for one of the prompt's variables (repeatable); {{document}}, "
                        "{{filename}} and {{path}} are filled per document")
    p.add_argument("--schema", metavar="FILE", help="a JSON schema the answers must follow")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="results.csv or results.jsonl; the same file again resumes the batch")
    p.add_argument("--parallel", type=int, metavar="N",
                   help="documents decoded together (default: 4 on a CPU, 16 on a GPU)")
    p.add_argument("--model", help="path to a GGUF model (default: the app's default model)")
    p.add_argument("--ctx-per-doc", type=int, metavar="N",
                   help="tokens for each document's prompt and answer (default 4096)")
    p.add_argument("--max-tokens", type=int, help="longest answer, reasoning included "
                                                  "(default 1024)")
    p.add_argument("--temperature", type=float, help="default 0: greedy, repeatable")
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--min-p", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--retries", type=int, help="more tries for an answer that does not fit "
                                               "the schema (default 2)")
    p.add_argument("--effort", choices=EFFORTS, help="gpt-oss's reasoning effort (default low)")
    p.add_argument("--no-reasoning", action="store_true",
                   help="gpt-oss: answer at once, without reasoning first")
    p.add_argument("--restart", action="store_true",
                   help="start afresh even if --out belongs to an unfinished batch")
    p.add_argument("--allow-swap", action="store_true",
                   help="load even if the model will not fit in free memory")
