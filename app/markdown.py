"""Markdown to the HTML subset Qt's rich text understands, safely.

Raw HTML in a model's answer is shown as text, never interpreted (`html=False`), and images
become links: rendering them could fetch a remote resource, and nothing leaves the machine
unless the user clicks.
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])


def _image_as_link(tokens, idx, options, env):
    token = tokens[idx]
    src = html.escape(token.attrGet("src") or "", quote=True)
    alt = html.escape(token.content or src)
    return f'<a href="{src}">[image: {alt}]</a>'


_md.add_render_rule("image", _image_as_link)

# Qt's rich text has no CSS for <pre> backgrounds on QLabel; a table cell gives the code block
# its shaded box, which reads as a code block in every theme.
_CODE_STYLE = "background-color: rgba(127,127,127,0.15); font-family: monospace;"


def _fence(tokens, idx, options, env):
    code = html.escape(tokens[idx].content.rstrip("\n"))
    return (f'<table width="100%" cellpadding="8" style="{_CODE_STYLE}"><tr><td>'
            f'<pre style="margin:0">{code}</pre></td></tr></table>')


_md.add_render_rule("fence", _fence)
_md.add_render_rule("code_block", _fence)


def to_html(text: str) -> str:
    return _md.render(text)
