"""The model's way into the person's documents when they do not fit the context: a search
over the chat's attachments and the library folders, returning passages with their file
and page, which the answer can cite as [n] like the passages the plan put in.

Where it looks: the folder the call names (``folder``: "only in Notes"), else the folders
the chat has pinned as its sources (``app.core.library.pins``) with the chat's
attachments, else every document Hearth holds (the whole library and all attachments)."""

from __future__ import annotations

from typing import Any

from app.core.library.pins import chat_folders
from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from inference.documents_plan import citation_label
from storage import Store, database_path
from storage.library import search_library

MAX_PASSAGES = 8
MAX_PASSAGE_CHARS = 1500


class DocumentSearch:
    spec = ToolSpec(
        name="search_documents", title="Documents",
        description="Searches the user's documents (this chat's attachments and the folders of "
                    "their library) and returns the best-matching passages, each with a number "
                    "to cite like [1] and its file and page. Use it when the user asks about "
                    "their files; name a library folder in `folder` when they say where to look.",
        parameters={"type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "words to look for; "
                                  "\"quoted words\" must appear together"},
                        "folder": {"type": "string", "description": "only this library folder "
                                   "(its name, e.g. Notes)"},
                        "limit": {"type": "integer", "description": "passages to return",
                                  "default": 5, "minimum": 1, "maximum": MAX_PASSAGES}},
                    "required": ["query"]})

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        if context.store is None:
            raise ToolError("The document library is not available here.")
        with context.store.reopen() as store:  # a tool runs on a thread of its own
            if str(store.path) != ":memory:" or not database_path().exists():
                return self._search(store, arguments, context)
            # `hearth chat` without --save keeps the turn in memory; the library is in the
            # data folder's database: search it there, read-only, with the chat's attachments.
            with Store(database_path(), read_only=True) as library:
                return self._search(library, arguments, context, attachments_in=store)

    def _search(self, store, arguments: Any, context: ToolContext, attachments_in=None
                ) -> ToolOutput:
        query = arguments["query"]
        limit = max(1, min(int(arguments.get("limit", 5)), MAX_PASSAGES))
        named = str(arguments.get("folder") or "").strip()
        cid = context.conversation_id
        if attachments_in is not None:  # the library in `store`, the chat's files elsewhere
            scope = ({"folder_ids": [f.id for f in self._named(store, named)]} if named
                     else {"everything": True})
            library = search_library(store, query, mode="any", limit=limit, **scope)
            attached = search_library(attachments_in, query, mode="any", everything=True,
                                      limit=limit)
            return self._output(query, _merged(library, attached, limit), "", context)
        if named:
            chosen = self._named(store, named)
            hits = search_library(store, query, mode="any", folder_ids=[f.id for f in chosen],
                                  limit=limit)
            where = f" in {', '.join(f.name for f in chosen)}"
        elif pinned := chat_folders(store, cid):
            attached = [d.id for d in store.documents.for_conversation(cid)] if cid else []
            hits = search_library(store, query, mode="any", folder_ids=pinned,
                                  document_ids=attached, limit=limit)
            where = " in this chat's sources"
        else:
            if store.db.execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None:
                return ToolOutput("The user has no documents in Hearth yet.")
            hits = search_library(store, query, mode="any", everything=True, limit=limit)
            where = ""
        return self._output(query, hits, where, context)

    @staticmethod
    def _named(store, named: str) -> list:
        chosen = store.library.find(named)
        if not chosen:
            names = ", ".join(f.name for f in store.library.folders()) or "none yet"
            raise ToolError(f"No library folder is called {named!r}; the user's folders: "
                            f"{names}.")
        return chosen

    @staticmethod
    def _output(query: str, hits: list, where: str, context: ToolContext) -> ToolOutput:
        if not hits:
            return ToolOutput(f"No passage{where} matches {query!r}.")
        lines, citations = [], []
        first = context.next_citation_key()
        for key, hit in enumerate(hits, start=first):
            label = citation_label(hit.source, hit.chunk.location.as_dict())
            text = hit.text
            if len(text) > MAX_PASSAGE_CHARS:
                text = text[:MAX_PASSAGE_CHARS] + " …"
            lines.append(f"[{key}] {label}\n{text.strip()}")
            citation = {"key": key, "label": label, "document_id": hit.chunk.document_id,
                        "chunk_ids": [hit.chunk.id], "query": query}  # marked when opened
            if hit.file is not None:
                citation["file_id"] = hit.file.id
            citations.append(citation)
        return ToolOutput("Cite a passage by its number, like [" + str(citations[0]["key"]) +
                          "].\n\n" + "\n\n".join(lines), citations=tuple(citations))

    def close(self) -> None:
        pass


def _merged(first: list, second: list, limit: int) -> list:
    """Hits from two databases, best first (BM25 scores are comparable enough to interleave)."""
    return sorted(first + second, key=lambda hit: -hit.score)[:limit]
