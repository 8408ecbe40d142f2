"""Math in a model's answer ($…$, $$…$$, \\(…\\), \\[…\\]) as Unicode text in italics: Qt's rich
text cannot typeset LaTeX, and x² reads better than x^2. Part of app/core/markdown.py's
parser (`use_math`)."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec
from pylatexenc.latex2text import get_default_latex_context_db as l2t_context
from pylatexenc.latexwalker import LatexWalker
from pylatexenc.latexwalker import get_default_latex_context_db as walker_context
from pylatexenc.macrospec import LatexContextDb, MacroSpec


def use_math(md: MarkdownIt) -> None:
    """Teach `md` the math delimiters models write, rendered as Unicode text."""
    # Not "$5 and $10": math needs no space inside the dollars and no digit outside them.
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    md.inline.ruler.before("escape", "bracket_math", _bracket_math_inline)
    # The plugin's $$ block cannot end a paragraph ("so:\n$$…"); ours can, and reads \[…\] too.
    md.disable("math_block")
    md.block.ruler.before("fence", "display_math", _display_math,
                          {"alt": ["paragraph", "reference", "blockquote", "list"]})
    for name, rule in {"math_inline": _render_math_inline,
                       "math_inline_double": _render_math_inline,
                       "math_block": _render_math_block}.items():
        md.add_render_rule(name, rule)


def _render_math_inline(self, tokens, idx, options, env) -> str:
    return f"<i>{_math(tokens[idx].content)}</i>"


def _render_math_block(self, tokens, idx, options, env) -> str:
    return f'<p align="center"><i>{_math(tokens[idx].content)}</i></p>\n'


@lru_cache(maxsize=512)
def _math(latex: str) -> str:
    """LaTeX as escaped Unicode text, or the source itself when it does not parse."""
    try:
        nodes, _, _ = LatexWalker(_scripts(latex), latex_context=_WALKER_MACROS,
                                  tolerant_parsing=False).get_latex_nodes()
        text = _latex_text.nodelist_to_text(nodes).strip()
    except Exception:  # noqa: BLE001 - pylatexenc raises assorted errors on malformed input
        text = latex.strip()
    return html.escape(text, quote=False).replace("\n", "<br>")


_SUPERSCRIPTS = dict(zip("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ"))
_SUBSCRIPTS = dict(zip("0123456789+-=()aeoxhklmnpstijruv", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥ"))
_SCRIPT_RE = re.compile(r"(?<!\\)([\^_])(?:\{([^{}]*)\}|(\\[A-Za-z]+|[^\s{}\\(]))")


def _scripts(latex: str) -> str:
    """x^2 → x², a_{ij} → aᵢⱼ where Unicode has the characters; else x^{n+k} → x^(n+k).
    Innermost first, so e^{-x^2} → e^(-x²)."""
    def replace(match: re.Match[str]) -> str:
        mark, body = match[1], (match[2] if match[2] is not None else match[3]).strip()
        table = _SUPERSCRIPTS if mark == "^" else _SUBSCRIPTS
        if body and all(char in table for char in body):
            return "{}" + "".join(table[char] for char in body)  # {}: \sum_1 must not read \sum₁
        if len(body) <= 1 or re.fullmatch(r"\\[A-Za-z]+", body):
            return f"{mark}{body}"
        return f"{mark}({body})"

    while (replaced := _SCRIPT_RE.sub(replace, latex)) != latex:
        latex = replaced
    return latex


def _fraction(node, l2tobj) -> str:
    numerator, denominator = node.nodeargd.argnlist[-2:]
    return f"{_grouped(_arg_text(numerator, l2tobj))}/{_grouped(_arg_text(denominator, l2tobj))}"


def _sqrt(node, l2tobj) -> str:
    index, radicand = node.nodeargd.argnlist[-2:]
    degree = "".join(_SUPERSCRIPTS.get(char, char) for char in _arg_text(index, l2tobj))
    return f"{degree}√{_grouped(_arg_text(radicand, l2tobj))}"


def _arg_text(arg, l2tobj) -> str:
    return l2tobj.nodelist_to_text([arg]).strip() if arg is not None else ""


def _grouped(text: str) -> str:
    """Parenthesised when an operator outside brackets would make a/b ambiguous."""
    depth = 0
    for char in text:
        depth += (char in "([{") - (char in ")]}")
        if depth == 0 and char in "+-−±=<>,/ ":
            return f"({text})"
    return text


def _latex_converter() -> tuple[LatexNodes2Text, LatexContextDb]:
    """pylatexenc's converter and parser context, plus macros models write that it lacks (it
    drops unknown ones, which suits \\left, \\big, \\displaystyle and the like)."""
    fractions = ("frac", "dfrac", "tfrac", "cfrac")
    walker_macros = walker_context()
    walker_macros.add_context_category("hearth", prepend=True, macros=[
        *(MacroSpec(name, "{{") for name in (*fractions, "binom")), MacroSpec("pmod", "{")])
    symbols = {"ne": "≠", "neg": "¬", "land": "∧", "lor": "∨", "implies": "⟹", "iff": "⟺",
               "Re": "ℜ", "Im": "ℑ", "bot": "⊥", "models": "⊨", "checkmark": "✓",
               "binom": "C(%(1)s, %(2)s)", "pmod": " (mod %s)",
               **{name: name for name in ("det", "gcd", "arg", "deg", "dim", "ker", "Pr")}}
    text_macros = l2t_context()
    text_macros.add_context_category("hearth", prepend=True, macros=[
        *(MacroTextSpec(name, simplify_repl=_fraction) for name in fractions),
        MacroTextSpec("sqrt", simplify_repl=_sqrt),
        *(MacroTextSpec(name, simplify_repl=text) for name, text in symbols.items())])
    converter = LatexNodes2Text(latex_context=text_macros, math_mode="text",
                                strict_latex_spaces="based-on-source")
    return converter, walker_macros


_latex_text, _WALKER_MACROS = _latex_converter()


def _bracket_math_inline(state: StateInline, silent: bool) -> bool:
    r"""`\(…\)` inline, and `\[…\]` written inside a paragraph."""
    opener = state.src[state.pos:state.pos + 2]
    if opener not in ("\\(", "\\["):
        return False
    closer = "\\)" if opener == "\\(" else "\\]"
    end = state.src.find(closer, state.pos + 2)
    if end <= state.pos + 2:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = state.src[state.pos + 2:end]
        token.markup = opener
    state.pos = end + 2
    return True


_DISPLAY_MATH = {"$$": "$$", "\\[": "\\]"}


def _display_math(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    r"""`$$…$$` or `\[…\]` starting a line, on one line or over several without a blank one."""
    if state.is_code_block(start):
        return False
    first = _line(state, start)
    closer = _DISPLAY_MATH.get(first[:2])
    if closer is None:
        return False
    last = start
    if len(first) < 4 or not first.endswith(closer):
        if closer in first[2:]:
            return False  # closed mid-line: math inside a paragraph
        last += 1
        while (last < end and not state.isEmpty(last) and state.sCount[last] >= state.blkIndent
               and not _line(state, last).endswith(closer)):
            last += 1
        if last >= end or state.isEmpty(last) or state.sCount[last] < state.blkIndent:
            return False
    if not silent:
        token = state.push("math_block", "math", 0)
        token.block = True
        token.content = state.getLines(start, last + 1, state.blkIndent, False).strip()[2:-2]
        token.markup = first[:2]
        token.map = [start, last + 1]
    state.line = last + 1
    return True


def _line(state: StateBlock, line: int) -> str:
    return state.src[state.bMarks[line] + state.tShift[line]:state.eMarks[line]].rstrip()
