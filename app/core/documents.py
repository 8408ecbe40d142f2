"""Documents in a turn, without Qt: add a file to the library, plan which parts of a
conversation's documents go into the prompt, and put them there.

Every function here may be slow (hashing, PDF extraction, tokenizing passages): call
them on a worker thread, never the GUI thread.

Where the documents go in the prompt: at the top of the *newest* user message, as
:func:`with_documents` writes it ("Documents …[1] report.pdf, p. 12 …\\n\\nQuestion: …").
Passages change with every question, so anywhere earlier (the developer message) would
change the prompt's start and throw away the whole KV cache each turn.  Earlier user
messages go into the history as typed, without their passages: the answers that used
them stay, the context does not fill up with old passages, and everything before the
previous user message is still cached.  Wiring into a turn (``app.turns.run_turn``)::

    prompt = fit_prompt(render, engine.tokenize, instructions, history, engine.n_ctx)
    budget = documents_budget(engine.n_ctx, len(prompt.tokens))
    plan = plan_for_turn(store, count_tokens(engine), conversation_id, question, budget)
    if plan.text:
        history[-1] = {**history[-1], "content": with_documents(plan, question)}
        prompt = fit_prompt(render, engine.tokenize, instructions, history, engine.n_ctx)
    # save plan.as_dict() in the answer's stats: what the model saw, for the info panel
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from common.text import display_name
from common.units import estimate_tokens
from inference.documents_plan import (
    ContextPlan,
    PlanChunk,
    PlanDocument,
    documents_budget,
    plan_context,
)
from storage import Store, sha256_file
from storage.documents import Document, DocumentError, check_size, extract
from storage.model_files import CancelFn, ProgressFn

__all__ = [
    "DocumentError",
    "count_tokens",
    "documents_budget",
    "ingest",
    "plan_for_turn",
    "with_documents",
]

Tokenize = Callable[[str], Sequence[int]]
# Chunks fetched by relevance per turn: more than any budget can hold (a 131k-token
# window takes about 260 chunks of 500 tokens), so the plan, not the search, decides.
SEARCH_LIMIT = 400


class _Tokenizer(Protocol):
    def tokenize(self, text: str, *, special: bool = ..., add_bos: bool | None = ...
                 ) -> list[int]: ...


def count_tokens(engine: _Tokenizer) -> Tokenize:
    """The engine's tokenizer as the plan counts document text: as plain text (a
    ``<|end|>`` in a document is not the control token) and without a BOS token."""
    return lambda text: engine.tokenize(text, special=False, add_bos=False)


def ingest(store: Store, path: str | os.PathLike[str], *, name: str | None = None,
           progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> Document:
    """Add the file to the library and return its document; a file with the same content
    as a stored one (any name) returns that one without being read again.

    DocumentError, with a message for the user, for any file Hearth cannot take.
    ``progress``/``cancel`` are passed to the hashing, the long part for a big file;
    cancelling raises :class:`storage.HashCancelled`.
    """
    path = Path(path)
    name = display_name(name or path)  # any bytes a file name holds, safe to show and store
    size = check_size(path, name)
    try:
        digest = sha256_file(path, progress=progress, cancel=cancel)
    except OSError as exc:
        raise DocumentError(f"Hearth could not read {name}: {exc.strerror or exc}.") from exc
    existing = store.documents.find(digest)
    if existing is not None:
        return existing
    return store.documents.add(extract(path, name=name), sha256=digest, name=name, size=size)


def plan_for_turn(store: Store, tokenize: Tokenize | None, conversation_id: int | None,
                  question: str, budget: int, extra: Sequence[int] = ()) -> ContextPlan:
    """What of the conversation's documents (attached anywhere on the branch shown) goes
    into the prompt for ``question``, within ``budget`` tokens. ``extra``: ids of documents
    about to be attached (the composer's, for the context meter).

    Passages are ranked by BM25 over the question's words.  ``tokenize`` (see
    :func:`count_tokens`) counts what the plan considers; None uses the chars/4
    estimate, e.g. before a model is loaded.
    """
    documents = list(store.documents.for_conversation(conversation_id)) if conversation_id else []
    known = {d.id for d in documents}
    documents += [d for d in (store.documents.get(i) for i in extra if i not in known) if d]
    count = estimate_tokens if tokenize is None else (lambda text: len(tokenize(text)))
    if not documents:
        return plan_context([], budget, count)
    hits = store.documents.search_chunks([d.id for d in documents], question, SEARCH_LIMIT)
    scores = {chunk.id: score for chunk, score in hits}
    inputs = [
        PlanDocument(
            id=doc.id, name=doc.name, pages=doc.pages,
            chunks=[PlanChunk(id=c.id, seq=c.seq, text=c.text, location=c.location.as_dict(),
                              score=scores.get(c.id, 0.0), overlap=c.overlap)
                    for c in store.documents.chunks(doc.id)],
        )
        for doc in documents
    ]
    return plan_context(inputs, budget, count)


def with_documents(plan: ContextPlan, question: str) -> str:
    """The newest user message as the model reads it: the plan's passages, then the
    question.  Just the question when the plan shows nothing."""
    if not plan.text:
        return question
    return f"{plan.text}\n\nQuestion: {question}"
