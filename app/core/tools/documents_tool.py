"""The model's way into the person's documents when they do not fit the context: a search
over the chat's attachments and the whole document library, returning passages with their
source and page, which the answer can cite as [n] like the passages the plan put in."""

from __future__ import annotations

from typing import Any

from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec
from inference.documents_plan import citation_label

MAX_PASSAGES = 8
MAX_PASSAGE_CHARS = 1500


class DocumentSearch:
    spec = ToolSpec(
        name="search_documents", title="Documents",
        description="Searches the user's documents (this chat's attachments and their document "
                    "library) and returns the best-matching passages, each with a number to "
                    "cite like [1] and its source. Use it when the user asks about their files.",
        parameters={"type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "words to look for"},
                        "limit": {"type": "integer", "description": "passages to return",
                                  "default": 5, "minimum": 1, "maximum": MAX_PASSAGES}},
                    "required": ["query"]})

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        if context.store is None:
            raise ToolError("The document library is not available here.")
        with context.store.reopen() as store:  # a tool runs on a thread of its own
            return self._search(store, arguments, context)

    def _search(self, store, arguments: Any, context: ToolContext) -> ToolOutput:
        documents = {d.id: d for d in store.documents.list()}
        if not documents:
            return ToolOutput("The user has no documents in Hearth yet.")
        limit = max(1, min(int(arguments.get("limit", 5)), MAX_PASSAGES))
        hits = store.documents.search_chunks(documents, arguments["query"], limit)
        if not hits:
            return ToolOutput(f"No passage matches {arguments['query']!r}.")
        lines, citations = [], []
        first = context.next_citation_key()
        for key, (chunk, _score) in enumerate(hits, start=first):
            label = citation_label(documents[chunk.document_id].name, chunk.location.as_dict())
            text = chunk.text[chunk.overlap:] if chunk.overlap else chunk.text
            if len(text) > MAX_PASSAGE_CHARS:
                text = text[:MAX_PASSAGE_CHARS] + " …"
            lines.append(f"[{key}] {label}\n{text.strip()}")
            citations.append({"key": key, "label": label, "document_id": chunk.document_id,
                              "chunk_ids": [chunk.id]})
        return ToolOutput("Cite a passage by its number, like [" + str(citations[0]["key"]) +
                          "].\n\n" + "\n\n".join(lines), citations=tuple(citations))

    def close(self) -> None:
        pass
