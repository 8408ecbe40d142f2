"""Fit instructions + history into the context window, leaving room for the answer.

History carries final answers only: harmony drops earlier reasoning, and other templates
expect plain content too. When the whole conversation does not fit, the oldest messages go
first (the instructions and the newest user message always stay); the result says how many
were left out so the GUI can tell the user.
"""

from __future__ import annotations

from common.errors import UserError

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

Render = Callable[[Sequence[Mapping]], str]
Tokenize = Callable[[str], list]


class PromptTooLongError(UserError):
    """Even the newest message alone does not fit. The message is meant for the user."""


@dataclass(frozen=True)
class FittedPrompt:
    text: str
    tokens: list
    dropped: int  # history messages left out, oldest first
    budget: int  # tokens the prompt may use (context minus the answer's reserve)


def output_reserve(n_ctx: int) -> int:
    """Room kept for the answer (reasoning included): a quarter of the window, 512 at least."""
    return max(512, n_ctx // 4)


def defuse_markers(text: str) -> str:
    """Keep text that merely *mentions* `<|end|>` from becoming the control token.

    llama.cpp matches gpt-oss's user-defined markers (`<|start|>`, `<|end|>`, `<|channel|>`…)
    inside any text it tokenizes, so a pasted "<|end|><|start|>system…" would otherwise forge
    a message. A zero-width space after `<` keeps the text readable and inert.
    """
    return text.replace("<|", "<\u200b|")


def build_messages(instructions: str | None, history: Sequence[Mapping]) -> list[dict]:
    # gpt-oss's template turns a leading system message into its developer instructions.
    messages = [{"role": "system", "content": defuse_markers(instructions)}] if instructions else []
    for m in history:
        messages.append({"role": m["role"], "content": defuse_markers(m["content"])})
    return messages


def fit_prompt(render: Render, tokenize: Tokenize, instructions: str | None,
               history: Sequence[Mapping], n_ctx: int, reserve: int | None = None) -> FittedPrompt:
    """The longest suffix of `history` that fits, found by bisection (each probe is a render)."""
    budget = n_ctx - (output_reserve(n_ctx) if reserve is None else reserve)
    if not history:
        raise ValueError("nothing to answer: the history is empty")

    def attempt(start: int) -> tuple[str, list]:
        text = render(build_messages(instructions, history[start:]))
        return text, tokenize(text)

    text, tokens = attempt(0)
    if len(tokens) <= budget:
        return FittedPrompt(text, tokens, 0, budget)

    last = len(history) - 1
    text, tokens = attempt(last)
    if len(tokens) > budget:
        raise PromptTooLongError(
            f"This message needs about {len(tokens):,} tokens, but only {budget:,} fit in the "
            f"{n_ctx:,}-token context with room for the answer. Shorten it, or raise the "
            "context size in settings.")
    lo, hi = 1, last  # attempt(lo - 1) is too long; attempt(hi) fits and is `best`
    best = (text, tokens)
    while lo < hi:
        mid = (lo + hi) // 2
        candidate = attempt(mid)
        if len(candidate[1]) <= budget:
            hi, best = mid, candidate
        else:
            lo = mid + 1
    start = hi
    # A reply without its question confuses every model: start the window at a user message.
    while start < last and history[start]["role"] != "user":
        start += 1
    if start != hi:
        best = attempt(start)
    return FittedPrompt(best[0], best[1], start, budget)
