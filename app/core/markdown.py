"""A model's Markdown answer as the HTML subset Qt's rich text understands, safely and fast.

Qt's QLabel is not a browser: it ignores classes, knows little CSS and paints no background on
<pre>. So a code block is a tinted table (a header row with its language and a Copy link, then
the code in inline Pygments colours: app/core/markdown_code.py), task boxes are glyphs and math
becomes Unicode text (app/core/markdown_math.py).

Safety: raw HTML in an answer is shown as text (`html=False`), images become links (rendering
them would fetch a remote resource), and only http(s) and mailto URLs become links at all.

Depth: past `_DEEPEST` levels of blocks inside blocks (quotes in quotes, lists in lists) the
rest is shown as plain text with its markers. markdown-it itself drops everything past its
nesting limit without a trace, and a model's nested outline must never lose words.

Speed: the widget re-renders the whole growing answer for every streamed token, about 60 times
a second. So the parser is built once, and each top-level block's HTML is cached once a block
follows it: per token, only the block still growing is parsed and highlighted again, and a
long code block only in its last piece (app/core/markdown_code.py).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block.table import escapedSplit, getLine
from markdown_it.rules_block.table import table as _gfm_table
from markdown_it.rules_core import StateCore, block, normalize
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from app.core.markdown_code import TINT, raw, render_code
from app.core.markdown_math import use_math

_LINK_RE = re.compile(r"(?i)(https?|mailto):")


def to_html(text: str, *, dark: bool = False) -> str:
    """The answer as rich text; code colours suit a dark window when `dark`. Each code block
    carries a `copy:N` link, N indexing `code_blocks(text)`."""
    return "".join(to_html_blocks(text, dark=dark))


def to_html_blocks(text: str, *, dark: bool = False, split: bool = False) -> list[str]:
    """`to_html`, one string per top-level block: a streaming view shows each in its own label,
    so only the growing last block is laid out again (one label per answer costs a full
    relayout of the whole answer on every update). `split`: a long code block comes in pieces
    separated by `PIECE`, a label each (app/core/markdown_code.py)."""
    key = (dark, split)
    stream = _streams.get(key)
    # A display-math closer ($$ or \]) can turn an opener far back into a block: parse whole.
    added = text[max(0, len(stream.text) - 2):] if stream is not None else ""
    if stream is not None and text.startswith(stream.text) and "\r" not in text \
            and "^[" not in text and "$$" not in added and "\\]" not in added:
        # The answer grew: blocks before the last one are settled, so parse from the last
        # block's start only. A whole parse per update grew with the answer (8 ms at 15k chars).
        tail = _split(text[stream.offset:], stream.code_index)
        if tail:
            return _remember(text, stream.settled, stream.offset, tail, key)
    parts = _split(text, 0) if "^[" not in text else None
    if parts is None:  # link references or footnotes tie the blocks together
        _streams.pop(key, None)
        return [_render(_blocks(text)[1], 0, *key)]
    return _remember(text, [], 0, parts, key) if parts else []


def _remember(text: str, settled: list, offset: int, parts: list, key: tuple) -> list[str]:
    """Render `parts` (the blocks from `offset` on) after the `settled` HTML, and keep the
    last two blocks open for the next update: the newest can still change what it is ("1"
    becoming "1. item") and so join the one before it (a list continuing after a blank line)."""
    keep = max(0, len(parts) - 2)
    settled = settled + [_render_cached(src, i, *key) for src, i, _, _ in parts[:keep]]
    open_parts = parts[keep:]
    _streams[key] = _Stream(text, settled, offset + open_parts[0][2], open_parts[0][1])
    source, code_index, _, token = open_parts[-1]
    if token.type in _CODE:  # a growing code block: its token is all there is to render
        last = render_code(None, [token], 0, None, {"dark": key[0], "code_blocks": code_index,
                                                    "split": key[1]})
    else:
        last = _render(source, code_index, *key)
    return settled + [_render_cached(src, i, *key) for src, i, _, _ in open_parts[:-1]] + [last]


@dataclass
class _Stream:
    """The last answer rendered: its settled blocks' HTML and where its last block starts."""

    text: str
    settled: list
    offset: int  # in `text`, where the last block starts
    code_index: int  # code blocks before it


_streams: dict[tuple[bool, bool], _Stream] = {}  # by (dark, split)


def _split(text: str, first_code_index: int) -> list[tuple[str, int, int, Token]] | None:
    """Top-level blocks as (source, code blocks before it, offset in `text`, first token);
    None when link references tie blocks together (render it whole)."""
    tokens, src, env = _blocks(text)
    if env:
        return None
    # Lines with their newlines; str.splitlines would also split at \f, \u2028 and others.
    lines = re.split(r"(?<=\n)", src)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    parts, code_index = [], first_code_index
    for token in tokens:
        if token.level == 0 and token.map and token.nesting >= 0:
            parts.append(("".join(lines[token.map[0]:token.map[1]]), code_index,
                          starts[token.map[0]], token))
        code_index += token.type in _CODE
    return parts


def code_blocks(text: str) -> list[str]:
    """The raw code of each fenced or indented block, in the order `to_html` numbers them."""
    return [raw(token.content) for token in _blocks(text)[0] if token.type in _CODE]


_CODE = ("fence", "code_block")


def _blocks(text: str) -> tuple[list[Token], str, dict]:
    """Block-level tokens only (the cheap half of parsing), the normalised source and the env,
    which holds link reference definitions and footnotes."""
    state = StateCore(text, _md, {})
    normalize(state)
    block(state)
    return state.tokens, state.src, state.env


def _render(source: str, first_code_index: int, dark: bool, split: bool = False) -> str:
    return _md.render(source, {"dark": dark, "code_blocks": first_code_index, "split": split})


_render_cached = lru_cache(maxsize=1024)(_render)


# --- nesting ----------------------------------------------------------------------------------

# Block levels drawn as structure: CommonMark's own limit, 10 nested lists or 20 nested quotes,
# already more indentation than a chat column has room for.
_DEEPEST = 20


def _too_deep(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """The rest of the enclosing block as text, once blocks nest `_DEEPEST` deep. markdown-it
    would skip it (its `maxNesting`), silently; parsing it as Markdown would recurse on."""
    if state.level < _DEEPEST:
        return False
    # The block ends where markdown-it's own loop would stop: a line indented less than it
    # (a list item's sibling, or what follows the list).
    last = start
    for line in range(start + 1, end):
        if not state.isEmpty(line):
            if state.sCount[line] < state.blkIndent:
                break
            last = line
    if not silent:
        token = state.push("deep_text", "", 0)
        token.block = True
        token.content = state.getLines(start, last + 1, state.blkIndent, False)
        token.map = [start, last + 1]
    state.line = last + 1
    return True


def _render_deep_text(self, tokens, idx, options, env) -> str:
    text = html.escape(tokens[idx].content.strip("\n"), quote=False)
    return f'<p style="white-space:pre-wrap">{text}</p>\n'


def _table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """GFM's table, except that a row with more cells than the header keeps the extra ones,
    joined into its last cell: GFM drops them, and a column the model added would vanish."""
    first = len(state.tokens)
    if not _gfm_table(state, start, end, silent):
        return False
    width, row, cell = 0, start, None
    for token in state.tokens[first:]:
        width += token.type == "th_open"
        if token.type == "tr_open":
            row = token.map[0]
        elif token.type == "inline":
            cell = token
        elif token.type == "tr_close" and cell is not None:
            cells = escapedSplit(getLine(state, row).strip())
            cells = cells[cells[0] == "":len(cells) - (len(cells) > 1 and cells[-1] == "")]
            if len(cells) > width:
                cell.content = " | ".join([cell.content, *(c.strip() for c in cells[width:])])
    return True


# --- the rest of the Markdown -----------------------------------------------------------------

def _render_inline_code(self, tokens, idx, options, env) -> str:
    return f'<code style="{TINT}">{html.escape(tokens[idx].content)}</code>'


def _render_image(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = html.escape(token.attrGet("src") or "", quote=True)
    return f'<a href="{src}">[image: {html.escape(token.content or src)}]</a>'


def _render_checkbox(self, tokens, idx, options, env) -> str:
    # html=False means the only raw HTML token is the task-list plugin's <input> checkbox.
    return "☑" if "checked" in tokens[idx].content else "☐"


def _render_bullet_list(self, tokens, idx, options, env) -> str:
    if tokens[idx].attrGet("class") == "contains-task-list":
        return '<ul style="list-style-type:none">\n'
    return "<ul>\n"


_TABLE = ('<table border="1" cellspacing="0" cellpadding="6" '
          'style="border-collapse:collapse; border-color:#8a8680">\n')


def _build() -> MarkdownIt:
    # breaks: a single line break is kept (a poem, an address), as chat apps show answers;
    # CommonMark would join the lines into one. maxNesting above _DEEPEST, so that _too_deep,
    # not markdown-it's silent cut, meets the deepest block (a list opened at _DEEPEST - 1 is
    # parsed at _DEEPEST + 1). The same limit bounds inline nesting ([[[…), where markdown-it
    # keeps the text.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False,
                                   "breaks": True, "maxNesting": _DEEPEST + 4})
    md.enable(["table", "strikethrough"])
    md.block.ruler.at("table", _table, {"alt": ["paragraph", "reference"]})  # as markdown-it's
    md.validateLink = lambda url: _LINK_RE.match(url) is not None
    md.use(tasklists_plugin)
    md.use(footnote_plugin)
    use_math(md)
    md.block.ruler.before(md.block.ruler.get_all_rules()[0], "too_deep", _too_deep)
    rules = {
        "fence": render_code, "code_block": render_code,
        "code_inline": _render_inline_code, "image": _render_image,
        "html_inline": _render_checkbox,
        "deep_text": _render_deep_text,
        "bullet_list_open": _render_bullet_list,
        "table_open": lambda *_: _TABLE,
        # Footnotes as plain numbers: an in-page "#fn1" link would go to the browser.
        "footnote_ref": lambda self, tokens, idx, options, env:
            f"<sup>{self.rules['footnote_caption'](tokens, idx, options, env)}</sup>",
        "footnote_anchor": lambda *_: "",
        "footnote_block_open": lambda *_: "<hr>\n<ol>\n",
        "footnote_block_close": lambda *_: "</ol>\n",
        "footnote_open": lambda *_: "<li>",
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md


_md = _build()


def hard_breaks(text: str) -> str:
    """`text` with its single line breaks made hard ("  " before the newline), so a Markdown
    viewer keeps them as the window does. Code, tables and a paragraph whose line breaks
    are not all breaks (one inside a code span) are left as they are."""
    tokens = _plain_markdown.parse(text)
    lines = re.split(r"(?<=\n)", text)
    marked = set()
    for i, token in enumerate(tokens):
        if token.type != "paragraph_open" or token.map is None or i + 1 >= len(tokens):
            continue
        first, end = token.map
        children = tokens[i + 1].children or []
        breaks = sum(child.type in ("softbreak", "hardbreak") for child in children)
        if breaks == end - first - 1:
            marked.update(range(first, end - 1))
    for n in sorted(marked):
        if n < len(lines):
            body = lines[n].rstrip("\r\n")
            if not body.endswith(("  ", "\\")):
                lines[n] = body.rstrip(" ") + "  " + lines[n][len(body):]
    return "".join(lines)


_plain_markdown = MarkdownIt("commonmark")
