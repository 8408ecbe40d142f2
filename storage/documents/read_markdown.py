"""Markdown: one unit per section, the raw Markdown kept (models read it well).

Headings come from a real CommonMark parse (markdown-it-py, already used for the chat
view), so a ``# comment`` inside a fenced code block is not a heading and Setext
headings ("Title\\n=====") are.  YAML front matter is kept as text, never parsed for
headings: its closing ``---`` would otherwise turn the line above it into one.
"""

from __future__ import annotations

import re
from itertools import pairwise

from .read_text import decode_text
from .sections import SectionBuilder
from .units import Extracted

_FRONT_MATTER = re.compile(r"\A---\n.*?\n(?:---|\.\.\.)\n", re.DOTALL)


def read_markdown(data: bytes, name: str) -> Extracted:
    from markdown_it import MarkdownIt

    text = decode_text(data, name)
    front = _FRONT_MATTER.match(text)
    skip = front.group(0).count("\n") if front else 0
    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").parse("\n".join(lines[skip:]))
    headings: dict[int, tuple[int, int, str]] = {}  # first line -> (end line, level, text)
    for opening, inline in pairwise(tokens):
        if opening.type == "heading_open" and opening.map:
            start, end = opening.map
            headings[start + skip] = (end + skip, int(opening.tag[1]), inline.content)
    builder = SectionBuilder()
    index = 0
    while index < len(lines):
        if index in headings:
            end, level, heading = headings[index]
            builder.heading(level, heading, shown="\n".join(lines[index:end]).strip())
            index = end
            continue
        if lines[index].strip():
            builder.line(lines[index])
        else:
            builder.blank()
        index += 1
    units = builder.finish()
    return Extracted(tuple(units), builder.first_heading, "markdown")
