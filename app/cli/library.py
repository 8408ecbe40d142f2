"""`hearth library add|remove|list|status|reindex`: library folders from a terminal.

`add` and `reindex` index in the foreground with a progress line (the window indexes in the
background); Ctrl+C stops between files and `reindex` goes on from there. The same
Qt-free code as the window's indexer process (app/core/library/service.py).
"""

from __future__ import annotations

import argparse
import json
import sys

from app.core.library.service import Progress, index_all
from common.errors import UserError
from common.text import display_path
from storage import Store
from storage.library import DEFAULT_EXCLUDE, LibraryFolder, collect_dropped, scan

INTERRUPTED = 130


def run(args: argparse.Namespace) -> int:
    with Store() as store:
        try:
            return COMMANDS[args.library_command](store, args)
        except KeyboardInterrupt:
            _clear_line()
            print("Stopped. `hearth library reindex` goes on from here.", file=sys.stderr)
            return INTERRUPTED


def _folder(store: Store, text: str) -> LibraryFolder:
    found = store.library.find(text)
    if not found:
        names = ", ".join(f.shown_path for f in store.library.folders()) or "none"
        raise UserError(f"no library folder {display_path(text)!r}; the library has: {names}")
    if len(found) > 1:
        raise UserError(f"{display_path(text)!r} names several folders; give the whole path: "
                        + ", ".join(f.shown_path for f in found))
    return found[0]


class _Line:
    """The progress line on stderr: rewritten in place on a terminal, else left out."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, progress: Progress) -> None:
        if self.tty and progress.state in ("scanning", "indexing"):
            current = f" — {progress.current}" if progress.current else ""
            sys.stderr.write(f"\r\x1b[K{progress.line()}{current}"[:200])
            sys.stderr.flush()


def _clear_line() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K")


def _summary(progress: Progress) -> str:
    indexed = progress.done - progress.skipped
    text = f"{indexed:,} file{'s' if indexed != 1 else ''} indexed"
    if progress.skipped:
        text += f", {progress.skipped:,} skipped (`hearth library status` says why)"
    pending = progress.total - progress.done
    if pending:
        text += f", {pending:,} pending"
    return text


def cmd_add(store: Store, args: argparse.Namespace) -> int:
    exclude = list(DEFAULT_EXCLUDE if not args.no_default_excludes else ()) + (args.exclude or [])
    folder = store.library.add_folder(args.folder, include=args.include or (), exclude=exclude)
    print(f"Added {folder.shown_path}", file=sys.stderr)
    if args.no_index:
        return 0
    final = index_all(store, _Line())
    _clear_line()
    print(_summary(final))
    return 0


def cmd_remove(store: Store, args: argparse.Namespace) -> int:
    folder = _folder(store, args.folder)
    store.library.remove_folder(folder.id)
    collect_dropped(store)
    print(f"Removed {folder.shown_path} and its index entries (the files themselves are untouched)")
    return 0


def cmd_reindex(store: Store, args: argparse.Namespace) -> int:
    if args.folder:
        scan(store, _folder(store, args.folder))
    final = index_all(store, _Line(), scan_first=not args.folder)
    _clear_line()
    print(_summary(final))
    return 0


def _folder_row(store: Store, folder: LibraryFolder) -> dict:
    counts = store.library.counts(folder.id)
    return {"id": folder.id, "name": folder.name, "path": folder.shown_path,
            "include": list(folder.include), "exclude": list(folder.exclude),
            "indexed": counts["indexed"], "skipped": counts["skipped"],
            "pending": counts["pending"], "scanned_at": folder.scanned_at}


def cmd_list(store: Store, args: argparse.Namespace) -> int:
    folders = store.library.folders()
    if args.json:
        for folder in folders:
            print(json.dumps(_folder_row(store, folder), ensure_ascii=False))
        return 0
    if not folders:
        print("No library folders yet: `hearth library add DIR`.", file=sys.stderr)
    for folder in folders:
        row = _folder_row(store, folder)
        print(f"{folder.shown_path}  ({row['indexed']:,} indexed, {row['skipped']:,} skipped, "
              f"{row['pending']:,} pending)")
    return 0


def cmd_status(store: Store, args: argparse.Namespace) -> int:
    counts = store.library.counts()
    names = {f.id: f.name for f in store.library.folders()}
    skipped = [{"folder": names.get(f.folder_id, ""), "path": f.shown_path, "reason": f.reason}
               for f in store.library.files(status="skipped")]
    if args.json:
        print(json.dumps({"folders": [_folder_row(store, f) for f in store.library.folders()],
                          **{k: counts[k] for k in ("indexed", "skipped", "pending")},
                          "skipped_files": skipped}, ensure_ascii=False))
        return 0
    print(f"{counts['indexed']:,} indexed, {counts['skipped']:,} skipped, "
          f"{counts['pending']:,} pending, in {len(names)} folder{'s' if len(names) != 1 else ''}")
    for row in skipped:
        print(f"  skipped {row['folder']}/{row['path']}: {row['reason']}")
    return 0


COMMANDS = {"add": cmd_add, "remove": cmd_remove, "list": cmd_list, "status": cmd_status,
            "reindex": cmd_reindex}


def add_parser(sub) -> None:
    library = sub.add_parser("library", help="folders of documents Hearth indexes and searches")
    library_sub = library.add_subparsers(dest="library_command", required=True)
    add = library_sub.add_parser("add", help="add a folder and index it now")
    add.add_argument("folder")
    add.add_argument("--include", action="append", metavar="GLOB",
                     help="index only files matching (repeatable; default: every type Hearth reads)")
    add.add_argument("--exclude", action="append", metavar="GLOB",
                     help="also leave out files or folders matching (repeatable)")
    add.add_argument("--no-default-excludes", action="store_true",
                     help="do not leave out hidden folders, node_modules, build outputs…")
    add.add_argument("--no-index", action="store_true", help="add it; the window indexes it")
    remove = library_sub.add_parser("remove", help="forget a folder and its index entries")
    remove.add_argument("folder", help="its path or its name")
    listing = library_sub.add_parser("list", help="the library's folders")
    listing.add_argument("--json", action="store_true")
    status = library_sub.add_parser("status", help="files indexed, skipped (and why), pending")
    status.add_argument("--json", action="store_true")
    reindex = library_sub.add_parser("reindex", help="pick up what changed, index what is pending")
    reindex.add_argument("folder", nargs="?", help="only this folder (its path or its name)")
