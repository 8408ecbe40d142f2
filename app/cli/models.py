"""`hearth models list|pull|default`: the model library from a terminal (like `lms ls`,
`ollama pull`), through the same Qt-free code as the window's model manager."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.core import model_library
from common.errors import UserError
from common.text import display_path
from common.units import format_bytes, format_duration
from inference.models import download
from storage import Store


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.models_command](args)


def _row(entry: model_library.ModelEntry) -> dict:
    m, fit = entry.model, entry.fit
    return {
        "name": m.display_name, "path": m.display_path, "source": m.source, "repo": m.repo,
        "architecture": m.architecture or None, "size": m.size,
        "parameters": m.parameter_count or None, "quantization": m.quantization or None,
        "context_length": m.context_length or None, "chat_template": m.has_chat_template,
        "sha256": m.sha256, "default": entry.is_default, "error": m.error,
        "fit": None if fit is None else {
            "verdict": fit.verdict.value, "n_ctx": entry.prefs.n_ctx, "total_bytes": fit.total,
            "gpu_layers": fit.gpu_layers, "reason": fit.reason},
    }


def _settings() -> model_library.LibrarySettings:
    """The library's settings, without creating a database just to read them."""
    from storage import default_data_dir
    from storage.db import DATABASE_FILENAME

    if not (default_data_dir() / DATABASE_FILENAME).exists():
        return model_library.LibrarySettings()
    with Store() as store:
        return model_library.LibrarySettings.read(store)


def cmd_list(args: argparse.Namespace) -> int:
    if args.endpoint:
        from app.cli import remote

        return remote.cmd_list(args)
    entries = model_library.scan(_settings())
    if args.json:
        for entry in entries:
            print(json.dumps(_row(entry), ensure_ascii=False))
        return 0
    if not entries:
        print("No GGUF models found. Download one with:\n  hearth models pull "
              f"{model_library.RECOMMENDED.repo_id} {model_library.RECOMMENDED.filename}")
        return 0
    header = ("", "NAME", "SOURCE", "ARCH", "SIZE", "QUANT", "CONTEXT", "FIT", "PATH")
    rows = [header]
    for entry in entries:
        m, fit = entry.model, entry.fit
        verdict = "broken" if m.error else (fit.verdict.value if fit else "?")
        rows.append(("*" if entry.is_default else "", m.display_name, m.source,
                     m.architecture or "?", format_bytes(m.size), m.quantization or "?",
                     f"{m.context_length:,}" if m.context_length else "?", verdict, m.display_path))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    for entry in entries:
        if entry.model.error:
            print(f"\n{entry.model.display_path}: {entry.model.error}", file=sys.stderr)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    def show(p: download.Progress) -> None:
        speed = f"{format_bytes(p.bytes_per_second)}/s" if p.bytes_per_second else "…"
        left = p.seconds_left
        eta = f", {format_duration(left)} left" if left is not None else ""
        sys.stderr.write(f"\r{args.file}: {format_bytes(p.done)} of {format_bytes(p.total)} "
                         f"({p.fraction:.0%}) at {speed}{eta}\033[K")
        sys.stderr.flush()

    dest = download.destination(model_library.models_dir(), args.repo, args.file)
    done, _ = download.partial_state(dest)
    if done:
        print(f"Resuming from {format_bytes(done)}.", file=sys.stderr)
    try:
        path, sha256 = download.download(args.repo, args.file, model_library.models_dir(),
                                         revision=args.revision, on_progress=show)
    except KeyboardInterrupt:
        done, _ = download.partial_state(dest)
        sys.stderr.write(f"\nPaused at {format_bytes(done)}. Run the same command to resume.\n")
        return 130
    except download.DownloadError as exc:
        sys.stderr.write("\n")
        raise UserError(str(exc)) from exc
    sys.stderr.write("\n")
    with Store() as store:
        if sha256:  # hashed while downloading: the app never needs to hash it again
            store.model_files.remember_sha256(path, sha256)
        if model_library.default_model(store) is None:
            model_library.set_default(store, path)
            print("Set as the default model.", file=sys.stderr)
    print(display_path(path))
    return 0


def cmd_default(args: argparse.Namespace) -> int:
    if args.path is None:
        current = _settings().default
        if current is None:
            raise UserError("no default model set (`hearth models default PATH` sets one)")
        print(display_path(current))
        return 0
    from inference.gguf_file import ModelFileError, check_model

    path = Path(os.path.abspath(Path(args.path).expanduser()))
    try:
        check_model(path)
    except ModelFileError as exc:
        raise UserError(str(exc)) from exc
    with Store() as store:
        model_library.set_default(store, path)
    print(display_path(path))
    return 0


def add_parser(sub) -> None:
    models = sub.add_parser("models", help="list, download and choose models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="every GGUF found on this machine")
    listing.add_argument("--json", action="store_true", help="one JSON object per model")
    from app.cli.remote import add_list_arguments

    add_list_arguments(listing)
    pull = models_sub.add_parser("pull", help="download a GGUF from Hugging Face (resumable)")
    pull.add_argument("repo", help="e.g. ggml-org/gpt-oss-20b-GGUF")
    pull.add_argument("file", help="e.g. gpt-oss-20b-mxfp4.gguf")
    pull.add_argument("--revision", default="main")
    default = models_sub.add_parser("default", help="show or set the default model")
    default.add_argument("path", nargs="?")


COMMANDS = {"list": cmd_list, "pull": cmd_pull, "default": cmd_default}
