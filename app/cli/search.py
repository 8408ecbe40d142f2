"""`hearth search QUERY [--json]`: what Ctrl+K finds, in a terminal — chat messages and
library passages, with the file's path and page.

Every word must match, as a prefix ("budg" finds "budget"); "quoted words" match as a
phrase. Text from chats and files is printed through common.text.safe_text, so an escape
sequence inside a file cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys

from app.core.library.sources import of_hit
from common.text import safe_text
from storage import HIGHLIGHT_END, HIGHLIGHT_START, Store
from storage.library import search_library


MAX_LIMIT = 1000  # a bigger list is no use in a terminal, and each hit costs memory


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"give a number from 1 to {MAX_LIMIT}, not {text!r}")
    return value


def _marked(snippet: str, tty: bool) -> str:
    """A snippet safe to print: matches in bold on a terminal, plain elsewhere."""
    bold, plain = ("\x1b[1m", "\x1b[0m") if tty else ("", "")
    out = []
    for n, piece in enumerate(snippet.split(HIGHLIGHT_START)):
        match, _, rest = piece.partition(HIGHLIGHT_END) if n else ("", "", piece)
        out.append((bold + safe_text(match) + plain if match else "") + safe_text(rest))
    return "".join(out)


def cmd_search(args: argparse.Namespace) -> int:
    tty = sys.stdout.isatty() and not args.json
    with Store() as store:
        messages = [] if args.library else store.search(args.query, limit=args.limit)
        passages = [] if args.chats else search_library(store, args.query, limit=args.limit)
        sources = [of_hit(store, hit) for hit in passages]
    if args.json:
        for hit in messages:
            print(json.dumps({"type": "message", "conversation_id": hit.conversation_id,
                              "message_id": hit.message_id, "title": hit.conversation_title,
                              "role": hit.role, "in_reasoning": hit.in_reasoning,
                              "created_at": hit.created_at,
                              "snippet": hit.snippet_text}, ensure_ascii=False))
        for hit, source in zip(passages, sources):
            print(json.dumps({"type": "passage", "source": hit.source,
                              "path": safe_text(source.path) if source.path else None,
                              "page": source.page, "location": source.location,
                              "label": source.label, "score": round(hit.score, 3),
                              "document_id": hit.chunk.document_id, "chunk_id": hit.chunk.id,
                              "snippet": safe_text(hit.snippet.replace(HIGHLIGHT_START, "")
                                                   .replace(HIGHLIGHT_END, ""))},
                             ensure_ascii=False))
        return 0
    if not messages and not passages:
        print("No matches.", file=sys.stderr)
        return 0
    if messages:
        print(f"Chats ({len(messages)}):")
        for hit in messages:
            who = "You" if hit.role == "user" else "Reasoning" if hit.in_reasoning else "Answer"
            print(f"  {safe_text(hit.conversation_title)} · {who} · message {hit.message_id}")
            print(f"    {_marked(hit.snippet, tty)}")
    if passages:
        print(f"Library ({len(passages)}):")
        for hit, source in zip(passages, sources):
            print(f"  {safe_text(source.label)}")
            if source.path:
                print(f"    {safe_text(source.path)}")
            print(f"    {_marked(hit.snippet, tty)}")
    return 0


def add_parser(sub) -> None:
    search = sub.add_parser("search", help="search chats and library folders (as Ctrl+K does)")
    search.add_argument("query")
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.add_argument("--limit", type=_limit, default=20,
                        help=f"at most this many of each kind (1 to {MAX_LIMIT})")
    only = search.add_mutually_exclusive_group()
    only.add_argument("--chats", action="store_true", help="only chat messages")
    only.add_argument("--library", action="store_true", help="only library passages")
