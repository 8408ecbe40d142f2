"""Fit instructions + history into the context window, leaving room for the answer.

History carries final answers only: harmony drops earlier reasoning, and other templates
expect plain content too; only the tool calls of the turn in progress (after the last user
message) keep the reasoning that led to them. When the whole conversation does not fit, the oldest
messages go first (the instructions and the newest user message always stay); the result
says how many were left out so the GUI can tell the user.
"""

from __future__ import annotations

from common.errors import UserError
from common.units import estimate_tokens

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .chat_messages import ChatMessage, message_to_openai
from .harmony_tools import FunctionTool

Render = Callable[[Sequence[Mapping]], str]
Tokenize = Callable[[str], list]


class PromptTooLongError(UserError):
    """Even the newest message alone does not fit. The message is meant for the user."""


# No tokenizer packs more characters than this into one token on average (English is about 4;
# a long run of spaces or of '=' is the worst real case, 16 to 128 per token, never a whole
# prompt). A longer text is refused, or dropped from, before it is tokenized: tokenizing a
# 100 MB prompt would take minutes to learn that it does not fit.
MAX_CHARS_PER_TOKEN = 32


def surely_too_long(text: str, n_tokens: int) -> bool:
    """`text` cannot fit in `n_tokens` tokens, known without tokenizing it."""
    return len(text) > max(n_tokens, 0) * MAX_CHARS_PER_TOKEN


def check_prompt_length(text: str, n_ctx: int) -> None:
    """PromptTooLongError when a rendered prompt is far longer than the whole context."""
    if surely_too_long(text, n_ctx):
        raise PromptTooLongError(
            f"This conversation needs about {estimate_tokens(text):,} tokens, far more than the "
            f"{n_ctx:,}-token context. Shorten it, or raise the context size in settings.")


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
    """Keep text that merely *mentions* `<|im_end|>` from becoming the control token, for
    models rendered through a Jinja template (whose output is tokenized whole, markers
    parsed). A zero-width space after `<` keeps the text readable and inert.

    gpt-oss prompts do not need this: they are tokenized by segments (harmony_render.Prompt).
    """
    return text.replace("<|", "<\u200b|")


_CHAT_KEYS = ("tool_calls", "tool_call_id", "name")


def build_messages(instructions: str | None, history: Sequence[Mapping]) -> list[dict]:
    """The messages to render: instructions as a leading system message (gpt-oss makes it
    the developer instructions), then the history with role, content and the tool-use keys;
    `thinking` only beside the tool calls of the turn in progress."""
    messages = [{"role": "system", "content": instructions}] if instructions else []
    last_user = max((i for i, m in enumerate(history) if m["role"] == "user"), default=-1)
    for i, m in enumerate(history):
        message = {"role": m["role"], "content": m.get("content") or ""}
        message.update((k, m[k]) for k in _CHAT_KEYS if m.get(k))
        if i > last_user and m.get("tool_calls") and m.get("thinking"):
            message["thinking"] = m["thinking"]
        messages.append(message)
    return messages


def template_messages(messages: Sequence[Mapping | ChatMessage]) -> list[dict]:
    """Messages for a Jinja template: the OpenAI shape, text defused."""
    out = []
    for m in messages:
        m = message_to_openai(m) if isinstance(m, ChatMessage) else dict(m)
        for key in ("content", "thinking"):
            if isinstance(m.get(key), str):
                m[key] = defuse_markers(m[key])
        out.append(m)
    return out


def template_tools(tools: Sequence[Mapping | FunctionTool] | None) -> list[Any] | None:
    """Tools for a Jinja template: the OpenAI `tools` shape."""
    if not tools:
        return None
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}}
            if isinstance(t, FunctionTool) else t for t in tools]


def fit_prompt(render: Render, tokenize: Tokenize, instructions: str | None,
               history: Sequence[Mapping], n_ctx: int, reserve: int | None = None) -> FittedPrompt:
    """The longest suffix of `history` that fits, found by bisection (each probe is a render).

    A suffix starts at a user message (or at the first message): a reply without its question
    confuses every model, and a tool result without the call it answers cannot be rendered.
    The newest user message, and whatever follows it (the turn in progress), always stays.
    A rendered text far longer than the budget (see MAX_CHARS_PER_TOKEN) counts as too long
    without being tokenized.
    """
    budget = n_ctx - (output_reserve(n_ctx) if reserve is None else reserve)
    if not history:
        raise ValueError("nothing to answer: the history is empty")
    starts = [0] + [i for i, m in enumerate(history) if i and m["role"] == "user"]

    def attempt(start: int) -> tuple[str, list | None]:
        text = render(build_messages(instructions, history[start:]))
        return text, None if surely_too_long(text, budget) else tokenize(text)

    def fits(tokens: list | None) -> bool:
        return tokens is not None and len(tokens) <= budget

    text, tokens = attempt(0)
    if fits(tokens):
        return FittedPrompt(text, tokens, 0, budget)

    if len(starts) > 1:
        text, tokens = attempt(starts[-1])
    if len(starts) == 1 or not fits(tokens):
        needed = estimate_tokens(text) if tokens is None else len(tokens)
        raise PromptTooLongError(
            f"This message needs about {needed:,} tokens, but only {budget:,} fit in the "
            f"{n_ctx:,}-token context with room for the answer. Shorten it, or raise the "
            "context size in settings.")
    lo, hi = 1, len(starts) - 1  # starting at starts[lo - 1] is too long; starts[hi] fits: `best`
    best = (text, tokens)
    while lo < hi:
        mid = (lo + hi) // 2
        candidate = attempt(starts[mid])
        if fits(candidate[1]):
            hi, best = mid, candidate
        else:
            lo = mid + 1
    return FittedPrompt(best[0], best[1], starts[hi], budget)
