"""Harmony as text over the wire: a rendered prompt sent to a server's `/v1/completions`, and
the generated text read back into the (text, is-marker) pieces the harmony parser takes.

In-process, markers and text are told apart by token id. A server hands back text, so a
marker is recognised by its characters. Two consequences, both bounded:
- plain text in the prompt that merely *looks* like a marker (a user pasting `<|end|>`) is
  defused before sending (a zero-width space after `<`), since the server parses markers out
  of the whole text: the only place the remote prompt differs from the in-process one;
- a model writing a marker's characters as text would read as the marker (gpt-oss does not:
  it writes markers as the control tokens they are).
"""

from __future__ import annotations

import re

from .harmony_render import Prompt

MARKERS = ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>",
           "<|return|>", "<|call|>", "<|endoftext|>", "<|startoftext|>")
_MARKER = re.compile("|".join(re.escape(m) for m in MARKERS))
_LONGEST = max(len(m) for m in MARKERS)
# Something shaped like a marker (the prompt_tokens.py rule): defused in plain text.
_MARKER_SHAPED = re.compile(r"<\|(?=[A-Za-z0-9_]*[A-Za-z0-9]\|>)")


def wire_text(prompt: str) -> str:
    """The text of a rendered prompt for a server that parses markers out of text: its
    markers as they are, marker-shaped plain text defused."""
    if not isinstance(prompt, Prompt):
        return prompt
    return "".join(text if marker else _MARKER_SHAPED.sub("<\u200b|", text)
                   for text, marker in prompt.segments)


def prompt_from_text(text: str) -> Prompt:
    """Harmony prompt text read back into a Prompt, its markers apart: tokenized by segments
    (and cached per message) it gives the tokens the whole text gives with markers parsed,
    without llama.cpp's cost per stretch between two markers."""
    splitter = MarkerSplitter()
    return Prompt(splitter.feed(text) + splitter.finish())


class MarkerSplitter:
    """Feed generated text in chunks as they arrive; get (text, is_marker) pieces back,
    with a marker split across two chunks held back until it is whole."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> list[tuple[str, bool]]:
        self._pending += text
        pieces: list[tuple[str, bool]] = []
        at = 0
        for match in _MARKER.finditer(self._pending):
            if match.start() > at:
                pieces.append((self._pending[at:match.start()], False))
            pieces.append((match.group(), True))
            at = match.end()
        rest = self._pending[at:]
        keep = _partial_marker(rest)
        if len(rest) > keep:
            pieces.append((rest[:len(rest) - keep], False))
        self._pending = rest[len(rest) - keep:]
        return pieces

    def finish(self) -> list[tuple[str, bool]]:
        rest, self._pending = self._pending, ""
        return [(rest, False)] if rest else []


def _partial_marker(text: str) -> int:
    """Length of the longest end of `text` that could begin a marker."""
    start = text.rfind("<|", max(0, len(text) - _LONGEST))
    if start < 0:
        return 1 if text.endswith("<") else 0
    tail = text[start:]
    return len(tail) if any(m.startswith(tail) for m in MARKERS) else (
        1 if text.endswith("<") else 0)
