"""Which parts of the attached documents go into the prompt, within a token budget.

Pure: documents in, a :class:`ContextPlan` out, no I/O.  The rules:

* Everything whole when it all fits.  Otherwise documents are taken whole smallest
  first while each fits its fair share of what is left; the rest go in as passages.
* Passages are the chunks that best match the question (their retrieval scores), as
  many as fit, shown in document order.  A document none of whose chunks matched shows
  its beginning instead, after every matched passage has had its turn.
* Nothing is cut silently: every document's plan says how much of it is shown ("12 of
  140 pages"), and the block itself tells the model, so it does not mistake a part for
  the whole.
* Each passage carries a citation key, ``[3]``, and its source, "report.pdf, p. 12".
  Adjacent chunks of one page or section merge into one passage.

Token counts come from ``count`` (the model's tokenizer, or the chars/4 estimate).  A
chunk is counted only when the plan considers it, so a 2,000-page document costs about
one budget's worth of tokenizing, not the whole book.  Costs are summed per chunk with a
small margin per seam, which keeps the block within the budget whatever the tokenizer
does at the joins; ``ContextPlan.tokens`` is the block's real count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from common.units import estimate_tokens

from .context import output_reserve

Count = Callable[[str], int]

INTRO = "Documents attached to this conversation (cite a passage by its number, like [1]):"
SEAM_TOKENS = 2  # per chunk: tokens a join may add (a newline, a merge undone)
MAX_MISSES = 64  # candidates in a row that did not fit before the plan stops looking
_PLACEHOLDER_KEY = 999  # counted in labels before keys are known: keys rarely get longer


def documents_budget(n_ctx: int, prompt_tokens: int, reserve: int | None = None) -> int:
    """Tokens left for documents: the window, less the answer's reserve, less the prompt
    rendered without documents (instructions, the history kept, the question)."""
    return max(0, n_ctx - (output_reserve(n_ctx) if reserve is None else reserve)
               - prompt_tokens)


@dataclass(frozen=True)
class PlanChunk:
    id: int
    seq: int  # position in its document
    text: str
    location: Mapping[str, Any]  # {"page": 4} | {"section": "A › B"} | {"lines"|"rows": [a, b]}
    score: float = 0.0  # retrieval score for the question, higher is better; 0: no match
    overlap: int = 0  # leading chars of text that repeat the previous chunk
    tokens: int | None = None  # the exact count if known; else counted when needed


@dataclass(frozen=True)
class PlanDocument:
    id: int
    name: str
    chunks: Sequence[PlanChunk]  # all of them, in document order
    pages: int | None = None  # a PDF's page count, for "12 of 140 pages"


@dataclass(frozen=True)
class Passage:
    key: int  # the citation number: [key]
    document_id: int
    label: str  # its source: "report.pdf, p. 12"
    location: dict[str, Any]  # merged location of its chunks
    chunk_ids: tuple[int, ...]
    score: float  # the best retrieval score among its chunks
    text: str = field(repr=False)


@dataclass(frozen=True)
class DocumentPlan:
    document_id: int
    name: str
    mode: str  # whole | passages | none
    tokens: int  # what its passages cost in the budget, labels included
    chunks_used: int
    chunks_total: int
    pages_used: int | None  # PDFs: distinct pages shown; None for other kinds
    pages_total: int | None
    shown: str  # "whole", "12 of 140 pages", "3 of 57 passages", "nothing"
    note: str  # '' when whole; else why and how much, as the model and the user read it


@dataclass(frozen=True)
class ContextPlan:
    budget: int
    tokens: int  # the block's tokens, as ``count`` measured it
    documents: tuple[DocumentPlan, ...]
    passages: tuple[Passage, ...]  # in citation-key order
    text: str  # the block for the prompt; '' when there is nothing to show

    @property
    def complete(self) -> bool:
        """Every document went in whole."""
        return all(d.mode == "whole" for d in self.documents)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``hearth chat --json``); passage texts are in ``text`` once."""
        out = asdict(self)
        for passage in out["passages"]:
            del passage["text"]
        return out


def location_label(location: Mapping[str, Any]) -> str:
    """'p. 12', 'Intro › Setup', 'lines 10–52', 'rows 2–41'; '' for a document's start
    before any heading."""
    if location.get("page") is not None:
        return f"p. {location['page']}"
    for key in ("lines", "rows"):
        span = location.get(key)
        if span:
            first, last = span
            return f"{key[:-1]} {first}" if first == last else f"{key} {first}–{last}"
    return str(location.get("section") or "")


def citation_label(name: str, location: Mapping[str, Any]) -> str:
    place = location_label(location)
    return f"{name}, {place}" if place else name


def plan_context(documents: Sequence[PlanDocument], budget: int,
                 count: Count = estimate_tokens) -> ContextPlan:
    """Decide, for each document in order, whole / passages / none within ``budget``."""
    costs = _Costs(count)
    if not documents:
        return ContextPlan(budget, 0, (), (), "")
    remaining = budget - costs.text(INTRO) - SEAM_TOKENS
    whole = [costs.whole(d, remaining) for d in documents]
    if sum(whole) <= remaining:
        return _build(documents, {d.id: list(d.chunks) for d in documents}, budget, costs)
    # Room for the longest note each document could need.
    remaining -= sum(costs.text(_note(d, "passages", 9999, 9999, False)) + SEAM_TOKENS
                     for d in documents)
    chosen: dict[int, list[PlanChunk]] = {d.id: [] for d in documents}
    in_passages = set()
    order = sorted(range(len(documents)), key=lambda i: whole[i])
    for rank, index in enumerate(order):
        doc = documents[index]
        if whole[index] <= remaining / (len(order) - rank):
            chosen[doc.id] = list(doc.chunks)
            remaining -= whole[index]
        else:
            in_passages.add(doc.id)
    _pick_passages([d for d in documents if d.id in in_passages], chosen, remaining, costs)
    return _build(documents, chosen, budget, costs)


class _Costs:
    """Token costs, each text counted once per plan."""

    def __init__(self, count: Count) -> None:
        self._count = count
        self._memo: dict[str, int] = {}

    def text(self, text: str) -> int:
        if text not in self._memo:
            self._memo[text] = self._count(text)
        return self._memo[text]

    def chunk(self, doc: PlanDocument, chunk: PlanChunk) -> int:
        tokens = chunk.tokens if chunk.tokens is not None else self.text(chunk.text)
        label = f"[{_PLACEHOLDER_KEY}] {citation_label(doc.name, chunk.location)}"
        return tokens + self.text(label) + SEAM_TOKENS

    def whole(self, doc: PlanDocument, cap: int) -> int:
        """The document's cost whole, or just over ``cap`` once it is clear it exceeds it
        (so a huge document is not counted to the end)."""
        total = 0
        for chunk in doc.chunks:
            total += self.chunk(doc, chunk)
            if total > cap:
                return max(cap, 0) + 1
        return total


def _pick_passages(documents: list[PlanDocument], chosen: dict[int, list[PlanChunk]],
                   remaining: int, costs: _Costs) -> None:
    """Fill ``chosen`` for passage-mode documents: matched chunks best first, then the
    beginnings of documents nothing matched in, round robin."""
    matched = [(-c.score, i, c.seq, doc, c) for i, doc in enumerate(documents)
               for c in doc.chunks if c.score > 0]
    unmatched = [doc for doc in documents if not any(c.score > 0 for c in doc.chunks)]
    beginnings = [(c.seq, i, doc, c) for i, doc in enumerate(unmatched) for c in doc.chunks]
    ranked = [(doc, c) for *_, doc, c in sorted(matched, key=lambda t: t[:3])]
    ranked += [(doc, c) for *_, doc, c in sorted(beginnings, key=lambda t: t[:2])]
    misses = 0
    for doc, chunk in ranked:
        cost = costs.chunk(doc, chunk)
        if cost <= remaining:
            chosen[doc.id].append(chunk)
            remaining -= cost
            misses = 0
        else:
            misses += 1
            if misses >= MAX_MISSES:
                break


def _build(documents: Sequence[PlanDocument], chosen: dict[int, list[PlanChunk]], budget: int,
           costs: _Costs) -> ContextPlan:
    passages: list[Passage] = []
    plans: list[DocumentPlan] = []
    notes: list[str] = []
    for doc in documents:
        picked = sorted(chosen[doc.id], key=lambda c: c.seq)
        # Passages that came to every chunk (others had no use for the room) are whole.
        mode = "none" if not picked else "whole" if len(picked) == len(doc.chunks) else "passages"
        for group in _groups(picked):
            passages.append(_passage(len(passages) + 1, doc, group))
        pages = {c.location.get("page") for c in picked} - {None}
        pages_used = len(pages) if doc.pages is not None else None
        matched = any(c.score > 0 for c in doc.chunks)
        if mode == "whole":
            shown = "whole"
        elif doc.pages is not None:
            shown = f"{pages_used} of {doc.pages} pages"
        else:
            shown = f"{len(picked)} of {len(doc.chunks)} passages"
        note = _note(doc, mode, len(picked), pages_used, matched)
        if note:
            notes.append(note)
        plans.append(DocumentPlan(
            document_id=doc.id, name=doc.name, mode=mode,
            tokens=sum(costs.chunk(doc, c) for c in picked), chunks_used=len(picked),
            chunks_total=len(doc.chunks), pages_used=pages_used, pages_total=doc.pages,
            shown="nothing" if mode == "none" else shown, note=note,
        ))
    if not passages:
        return ContextPlan(budget, 0, tuple(plans), (), "")
    parts = [INTRO, *notes, *(f"[{p.key}] {p.label}\n{p.text}" for p in passages)]
    text = "\n\n".join(parts)
    return ContextPlan(budget, costs.text(text), tuple(plans), tuple(passages), text)


def _note(doc: PlanDocument, mode: str, used: int, pages_used: int | None,
          matched: bool) -> str:
    if mode == "whole":
        return ""
    if mode == "none":
        return f"Note: {doc.name} is left out: there is no room for it in the context."
    if doc.pages is not None:
        amount = f"{pages_used} of its {doc.pages} pages"
    else:
        amount = f"{used} of its {len(doc.chunks)} passages"
    which = ("the passages that best match the question" if matched
             else "its beginning, as no passage matched the question's words")
    return f"Note: {doc.name} is too long to include whole. Shown: {amount}, {which}."


def _groups(chunks: list[PlanChunk]) -> list[list[PlanChunk]]:
    """Runs of consecutive chunks in the same page or section (or any line/row range)."""
    groups: list[list[PlanChunk]] = []
    for chunk in chunks:
        if groups and _joins(groups[-1][-1], chunk):
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    return groups


def _joins(before: PlanChunk, after: PlanChunk) -> bool:
    if after.seq != before.seq + 1:
        return False
    a, b = before.location, after.location
    if a.get("page") is not None or b.get("page") is not None:
        return a.get("page") == b.get("page")
    if any(a.get(k) and b.get(k) for k in ("lines", "rows")):
        return True
    return "section" in a and a.get("section") == b.get("section")


def _passage(key: int, doc: PlanDocument, group: list[PlanChunk]) -> Passage:
    text = group[0].text
    for chunk in group[1:]:
        rest = chunk.text[chunk.overlap:]
        text += rest if rest[:1].isspace() else "\n" + rest
    location = dict(group[0].location)
    for key_name in ("lines", "rows"):
        if location.get(key_name):
            location[key_name] = [group[0].location[key_name][0],
                                  group[-1].location[key_name][1]]
    return Passage(key, doc.id, citation_label(doc.name, location), location,
                   tuple(c.id for c in group), max(c.score for c in group), text)
