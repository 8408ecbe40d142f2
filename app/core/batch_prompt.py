"""A batch's prompt for one document: read it, fit it, fill the saved prompt, render, tokenize.

Runs on the engine's thread (it tokenizes with the model), one document at a time as slots
free up. Every problem with a document is a UserError whose message becomes its row's reason.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from common.errors import UserError
from inference.context import build_messages
from inference.documents_plan import PlanChunk, PlanDocument, plan_context
from storage import Store

from . import documents
from .batch import PER_DOCUMENT, prompt_from_snapshot, settings_of
from .prompt_library import apply, variables

# Room left for the template's own tokens around the document, beyond what is counted.
MARGIN = 32
_FINAL = "<|channel|>final<|message|>"


@dataclass(frozen=True)
class Prepared:
    text: str  # the rendered prompt (what prompt_sha256 hashes)
    tokens: tuple[int, ...]
    document_sha256: str
    document_mode: str  # whole | passages
    final_prefill: bool  # gpt-oss: the prompt ends inside the final channel


class PromptBuilder:
    def __init__(self, store: Store, engine, spec: dict) -> None:
        self.store = store
        self.engine = engine
        self.spec = spec
        self.settings = settings_of(spec)
        self.prompt = prompt_from_snapshot(spec["prompt"])
        self.values = dict(spec.get("values") or {})
        self.wanted = {v.name for v in variables(self.prompt.body)}
        self.date = _dt.datetime.fromisoformat(spec.get("date") or _dt.date.today().isoformat())
        self.harmony = bool(engine.template.is_harmony)
        # gpt-oss without reasoning: the prompt opens the final channel itself.
        self.prefill = self.harmony and not self.settings.reasoning
        self._count = documents.count_tokens(engine)

    # -- the text ---------------------------------------------------------------------------

    def render(self, document: str, filename: str, path: str) -> str:
        per_doc = {"document": document, "filename": filename, "path": path}
        values = {**self.values, **{k: v for k, v in per_doc.items() if k in self.wanted}}
        text = "" if "document" in self.wanted else document
        applied = apply(self.prompt, values, text=text,
                        builtins={"date": self.date.date().isoformat()})
        messages = build_messages(applied.instructions, [{"role": "user", "content": applied.text}])
        effort = self.prompt.effort or self.settings.effort
        # gpt-oss: a harmony Prompt, whose segments keep a document's "<|end|>" text as text.
        return self.engine.render(messages, effort, now=self.date)

    def tokenize(self, rendered) -> tuple[int, ...]:
        tokens = tuple(self.engine.tokenize(rendered))
        if self.prefill:  # the final channel's header, as control tokens
            tokens += tuple(self.engine.tokenize(_FINAL, add_bos=False))
        return tokens

    def full_text(self, rendered) -> str:
        """The prompt as text (hashed in each row's record; the parser reads its end)."""
        return f"{rendered}{_FINAL}" if self.prefill else str(rendered)

    def shared_prefix(self) -> list[int]:
        """The tokens every document's prompt starts with: two probes' common start."""
        one = self.tokenize(self.render("alpha", "alpha.txt", "/alpha.txt"))
        two = self.tokenize(self.render("omega", "omega.txt", "/omega.txt"))
        common = 0
        for a, b in zip(one, two):
            if a != b:
                break
            common += 1
        return list(one[:max(0, common - 1)])  # the last common token may merge differently

    # -- one document ---------------------------------------------------------------------

    def prepare(self, path: str) -> Prepared:
        source = Path(path)
        if not source.exists():
            raise UserError(f"{source.name} does not exist.")
        if source.is_dir():
            raise UserError(f"{source.name} is a folder.")
        doc = documents.ingest(self.store, source)
        chunks = self.store.documents.chunks(doc.id)
        whole = "".join(c.text[c.overlap if i else 0:] for i, c in enumerate(chunks))
        if not whole.strip():
            raise UserError(f"{source.name} has no text.")
        empty = self.tokenize(self.render(".", source.name, str(source)))
        budget = (self.settings.n_ctx_per_seq - len(empty) - self.settings.max_tokens - MARGIN)
        if budget <= 0:
            raise UserError(f"The prompt alone needs {len(empty):,} tokens: with answers of up "
                            f"to {self.settings.max_tokens:,} it leaves no room for a document "
                            f"in {self.settings.n_ctx_per_seq:,} tokens.")
        mode, text = "whole", whole
        if len(self._count(whole)) > budget:
            mode = "passages"
            text = self._passages(doc, budget)
            if not text:
                raise UserError(f"No part of {source.name} fits in the "
                                f"{self.settings.n_ctx_per_seq:,} tokens each document has.")
        rendered = self.render(text, source.name, str(source))
        tokens = self.tokenize(rendered)
        limit = self.settings.n_ctx_per_seq - self.settings.max_tokens
        if len(tokens) > limit:
            raise UserError(f"{source.name}'s prompt needs {len(tokens):,} tokens; "
                            f"{limit:,} are left beside the answer.")
        return Prepared(self.full_text(rendered), tokens, doc.sha256, mode, self.prefill)

    def _passages(self, doc, budget: int) -> str:
        question = self.prompt.body
        hits = self.store.documents.search_chunks([doc.id], question, documents.SEARCH_LIMIT)
        scores = {chunk.id: score for chunk, score in hits}
        plan_doc = PlanDocument(
            id=doc.id, name=doc.name, pages=doc.pages,
            chunks=[PlanChunk(id=c.id, seq=c.seq, text=c.text, location=c.location.as_dict(),
                              score=scores.get(c.id, 0.0), overlap=c.overlap)
                    for c in self.store.documents.chunks(doc.id)])
        return plan_context([plan_doc], budget, lambda t: len(self._count(t))).text


def prompt_sha256(text: str) -> str:
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


__all__ = ["PER_DOCUMENT", "Prepared", "PromptBuilder", "prompt_sha256"]
