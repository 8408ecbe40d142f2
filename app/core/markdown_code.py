"""Code blocks for app/core/markdown.py: a tinted table with the language and a Copy link over
the code in inline Pygments colours (Qt's rich text knows no classes and paints no background
on <pre>).

Long blocks in pieces: Qt lays a label's whole text out again whenever it changes, so one label
holding a growing 1,000-line block cost ~0.5 ms a line on every streamed update. A block
rendered `split` comes as pieces of `CHUNK_LINES` lines, separated by `PIECE`; the window shows
each piece in a label of its own, stacked without a gap, so while the block grows only its
last piece changes. Each piece is highlighted alone, starting in the state the lexer was in at
the end of the piece before (a docstring or comment running over a seam keeps its colour), and
cached: per update only the last piece is lexed again. Pieces depend only on the block's text,
so a streamed block ends exactly as the same block rendered at once.
"""

from __future__ import annotations

import html
import inspect
from functools import cache, lru_cache

from pygments.lexer import ExtendedRegexLexer, Lexer, RegexLexer
from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import _TokenType
from pygments.util import ClassNotFound

CHUNK_LINES = 20
PIECE = "\x00"  # between two pieces of one block (markdown-it turns a NUL in the text into U+FFFD)

_STYLES = {False: get_style_by_name("default"), True: get_style_by_name("github-dark")}
# A grey tint rather than a colour reads as a box on both the light and the dark window; the
# code header is two layers of it.
TINT = "background-color:rgba(128,128,128,0.12)"
# Qt paints a cell's background again under the cell's text; a transparent span avoids that.
_UNSHADED = "background-color:transparent"
_MUTED = "color:#8a8680"
_ROOT = ("root",)


def render_code(self, tokens, idx, options, env) -> str:
    """markdown-it's rule for fenced and indented code; `env["code_blocks"]` numbers the Copy
    links, `env["split"]` asks for pieces."""
    token = tokens[idx]
    index = env["code_blocks"]
    env["code_blocks"] = index + 1
    language = token.info.split(maxsplit=1)[0].lower() if token.info.strip() else ""
    if lexer_for(language) is None:
        language = "text"
    lines = raw(token.content).split("\n")
    chunk = CHUNK_LINES if env.get("split") else len(lines)
    bodies = _bodies(tuple("\n".join(lines[i:i + chunk]) for i in range(0, len(lines), chunk)),
                     language, env["dark"])
    label = html.escape(language)
    header = (f'<tr><td style="{TINT}"><span style="{_UNSHADED}; {_MUTED}">{label}</span></td>'
              f'<td align="right" style="{TINT}"><a href="copy:{index}" '
              f'style="{_UNSHADED}; {_MUTED}; text-decoration:none">Copy</a></td></tr>')
    last = len(bodies) - 1
    pieces = []
    for i, body in enumerate(bodies):
        # Only the first piece has the header and the space above; only the last the space
        # below: stacked, the pieces read as one box.
        top, bottom = ("8px" if i == 0 else "0"), ("8px" if i == last else "0")
        cell = "" if last == 0 else f' style="padding-top:{top}; padding-bottom:{bottom}"'
        pieces.append(f'<table width="100%" cellspacing="0" cellpadding="8" '
                      f'style="{TINT}; margin-top:{top}; margin-bottom:{bottom}">'
                      f'{header if i == 0 else ""}'
                      f'<tr><td colspan="2"{cell}><pre style="margin:0; white-space:pre-wrap">'
                      f'{body}</pre></td></tr></table>\n')
    return PIECE.join(pieces)


def raw(content: str) -> str:
    return content.removesuffix("\n")  # the newline before the closing fence


@lru_cache(maxsize=64)
def lexer_for(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False) if language else None
    except ClassNotFound:
        return None


def _bodies(chunks: tuple[str, ...], language: str, dark: bool) -> list[str]:
    bodies, state = [], _ROOT
    for i, chunk in enumerate(chunks):
        if i:  # where the lexer stands after the piece before (cached: settled pieces)
            state = _piece_end(chunks[i - 1], language, state)
        bodies.append(_keep_edge_lines(_piece(chunk, language, dark, state)))
    return bodies


def _keep_edge_lines(body: str) -> str:
    """Qt's HTML parser drops a newline just after <pre> and one just before </pre>: an empty
    first or last line of a piece would vanish."""
    if body.startswith("\n"):
        body = "\n" + body
    if body.endswith("\n"):
        body += "\n"
    return body


@lru_cache(maxsize=4096)
def _piece(code: str, language: str, dark: bool, state: tuple) -> str:
    """`code` as HTML, lexed from `state` (a lexer that cannot resume starts afresh)."""
    lexer = lexer_for(language)
    if lexer is None:
        return html.escape(code, quote=False)
    text = code + "\n"  # as Lexer.get_tokens (ensurenl) would give it
    tokens = (lexer.get_tokens_unprocessed(text, stack=state) if _resumable(language)
              else lexer.get_tokens_unprocessed(text))
    runs: list[list[str]] = []  # [css, text]: neighbours of one style share a span
    for _, ttype, value in tokens:
        css = _css(ttype, dark)
        if runs and (runs[-1][0] == css or value.isspace()):  # spaces show no colour
            runs[-1][1] += value
        else:
            runs.append([css, value])
    if runs:  # the newline added above
        runs[-1][1] = runs[-1][1].removesuffix("\n")
    return "".join(f'<span style="{css}">{html.escape(value, quote=False)}</span>' if css
                   else html.escape(value, quote=False) for css, value in runs)


@lru_cache(maxsize=4096)
def _piece_end(code: str, language: str, state: tuple) -> tuple:
    """The lexer's state after `code`, lexed from `state`."""
    lexer = lexer_for(language)
    if lexer is None or not _resumable(language):
        return _ROOT
    return _end_state(lexer, code + "\n", state)


@cache
def _resumable(language: str) -> bool:
    """A RegexLexer's state is its stack of state names, which it takes as an argument."""
    lexer = lexer_for(language)
    return (isinstance(lexer, RegexLexer) and not isinstance(lexer, ExtendedRegexLexer)
            and "stack" in inspect.signature(lexer.get_tokens_unprocessed).parameters)


def _end_state(lexer: RegexLexer, text: str, stack: tuple) -> tuple:
    """The stack RegexLexer.get_tokens_unprocessed (Pygments 2.x) ends `text` with: its loop,
    state changes only (actions cannot change the stack)."""
    tokendefs = lexer._tokens
    states = list(stack)
    rules = tokendefs[states[-1]]
    pos = 0
    while True:
        for match, _action, new_state in rules:
            m = match(text, pos)
            if m:
                pos = m.end()
                if new_state is not None:
                    if isinstance(new_state, tuple):
                        for state in new_state:
                            if state == "#pop":
                                if len(states) > 1:
                                    states.pop()
                            elif state == "#push":
                                states.append(states[-1])
                            else:
                                states.append(state)
                    elif isinstance(new_state, int):
                        if abs(new_state) >= len(states):
                            del states[1:]
                        else:
                            del states[new_state:]
                    elif new_state == "#push":
                        states.append(states[-1])
                    rules = tokendefs[states[-1]]
                break
        else:  # no rule matched: a newline resets to root, anything else is skipped
            if pos >= len(text):
                return tuple(states)
            if text[pos] == "\n":
                states = ["root"]
                rules = tokendefs["root"]
            pos += 1


@cache
def _css(ttype: _TokenType, dark: bool) -> str:
    style = _STYLES[dark]
    while not style.styles_token(ttype):
        ttype = ttype.parent
    spec = style.style_for_token(ttype)
    return "".join([f"color:#{spec['color']};" if spec["color"] else "",
                    "font-weight:bold;" if spec["bold"] else "",
                    "font-style:italic;" if spec["italic"] else ""])


COMMON_LANGUAGES = ("python", "javascript", "typescript", "bash", "json", "html", "css", "c",
                    "cpp", "java", "rust", "go", "sql", "yaml")


def warm(languages: tuple[str, ...] = COMMON_LANGUAGES) -> None:
    """Make the lexers models use most, and their colours: a lexer's rules compile on its first
    use (10-50 ms each, 180 ms for Python with Pygments' lexer table), a stall the GUI thread
    would otherwise take when an answer's first code block arrives. Safe on any thread."""
    for language in languages:
        for dark in (False, True):
            _piece("x = 1", language, dark, _ROOT)
