"""What a chat template may make, measured: the limits of template_sandbox.py.

The invariant the sandbox keeps: every value a template can reach weighs at most
`Limits.max_chars` (see `weight`) and nests at most MAX_DEPTH deep, so no single C call on it
(`repr`, `==`, `tojson`, a join) runs long or allocates much. Operations whose result can
dwarf their inputs (`*`, `**`, `%`, `format`, `ljust`, `replace`, `join`, `indent`...) are
measured here before they run; `Limits.check` measures any other result after.
"""

from __future__ import annotations

import re
from string import Formatter
from typing import Any

from jinja2.runtime import Namespace

from .interrupt import Guard, check_guard

MAX_DEPTH = 100  # nesting of lists, dicts and namespaces
MAX_INT_BITS = 1 << 16  # about 20,000 digits
MAX_SEPARATOR = 16  # tojson's indent and separators (honest templates use 2 or 4)
_MEMO_MAX = 100_000


class LimitExceeded(Exception):
    """A template went past a limit. The message is meant for a person."""


class Limits:
    """The budget of one render or compile."""

    def __init__(self, max_chars: int, guard: Guard | None = None, memo: dict | None = None) -> None:
        self.max_chars = max_chars
        self.guard = guard
        self.call_depth = 0
        self.memo = {} if memo is None else memo  # see weight()

    def tick(self) -> None:
        if self.guard is not None:
            check_guard(self.guard)

    def size(self, value: Any) -> int:
        return len(value) if type(value) is str else weight(value, self.max_chars, self.memo)

    def ensure(self, size: int, how: str) -> None:
        if size > self.max_chars:
            raise LimitExceeded(f"The model's chat template tries to make a value of {size:,}+ "
                                f"characters ({how}); the limit here is {self.max_chars:,}.")

    def check(self, value: Any, how: str) -> Any:
        self.ensure(self.size(value), how)
        return value


# -- measuring ----------------------------------------------------------------------------------

def weight(value: Any, limit: int, memo: dict | None = None) -> int:
    """Characters of `value`'s strings plus one per item, every path counted: a list holding
    one string twice weighs it twice, as `repr`, `tojson` and `==` walk it. The count stops
    early once past `limit`; LimitExceeded past MAX_DEPTH. `memo` (id -> (value, weight,
    height)) keeps lists, tuples and dicts already measured (a template cannot change them),
    so `[x, x]` costs two look-ups, not a walk of x."""
    return _Walk(limit, {} if memo is None else memo).visit(value, 0)[0]


class _Walk:
    __slots__ = ("limit", "memo")

    def __init__(self, limit: int, memo: dict) -> None:
        self.limit, self.memo = limit, memo

    def visit(self, value: Any, depth: int) -> tuple[int, int, bool]:
        """(weight, height, memoizable: holds no namespace, whose attributes can change)."""
        if isinstance(value, (str, bytes)):
            return len(value), 0, True
        if isinstance(value, int):
            return 1 + value.bit_length() // 3, 0, True
        pure = not isinstance(value, Namespace)
        if pure and not isinstance(value, (list, tuple, dict)):
            return 1, 0, True
        hit = self.memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1], hit[2], True
        if depth >= MAX_DEPTH:
            raise _too_deep()
        items = value if pure else object.__getattribute__(value, "_Namespace__attrs")
        total, height = len(items) + 1, 0
        for child in ((*items.keys(), *items.values()) if isinstance(items, dict) else items):
            if type(child) is str:
                total += len(child)
                continue
            size, below, clean = self.visit(child, depth + 1)
            total += size
            height = max(height, below + 1)
            pure = pure and clean
            if total > self.limit:
                return total, height, False
        if depth + height > MAX_DEPTH:
            raise _too_deep()
        if pure and len(self.memo) < _MEMO_MAX:
            self.memo[id(value)] = (value, total, height)
        return total, height, pure


def _too_deep() -> LimitExceeded:
    return LimitExceeded(f"The model's chat template nests values more than {MAX_DEPTH} deep.")


def is_int(value: Any) -> bool:
    return isinstance(value, int)


def is_sequence(value: Any) -> bool:
    return isinstance(value, (str, bytes, list, tuple))


# -- operations checked before they run ---------------------------------------------------------

_NUMBER = re.compile(r"\d+")
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


def _widest(spec: str) -> int:
    """The largest width or precision written in a format spec."""
    runs = _NUMBER.findall(spec)
    return 10 ** 9 if any(len(r) > 9 for r in runs) else max(map(int, runs), default=0)


def format_size(limits: Limits, fmt: Any, args: Any, how: str, braces: bool) -> None:
    """`fmt % args` or `fmt.format(*args)`: any field may repeat any argument, padded to the
    widest width; with widths taken from the arguments (`%*d`, `{:{}}`), any integer may be one."""
    if isinstance(fmt, bytes):
        fmt = fmt.decode("latin-1")
    args = list(args) if isinstance(args, (tuple, list)) else [args]
    if braces:
        specs = [spec or "" for _, name, spec, _ in Formatter().parse(fmt) if name is not None]
        nested = any("{" in spec for spec in specs)
    else:
        specs = [m.group(0) for m in _PERCENT.finditer(fmt)]
        nested = any("*" in spec for spec in specs)
    pad = max([_widest(spec) for spec in specs] + [abs(a) for a in args if nested and is_int(a)])
    limits.ensure(pad, how)
    limits.ensure(len(fmt) + len(specs) * (sum(map(limits.size, args)) + pad), how)


def _int_bits(bits: int, how: str) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"The model's chat template tries to make a number of more than "
                            f"{MAX_INT_BITS:,} bits ({how}).")


def before_binop(limits: Limits, op: str, left: Any, right: Any) -> None:
    how = f"with '{op}'"
    if op == "*":
        if is_int(left) and is_int(right):
            _int_bits(left.bit_length() + right.bit_length(), how)
        elif is_int(right) and is_sequence(left):
            limits.ensure(limits.size(left) * max(right, 0), how)
        elif is_int(left) and is_sequence(right):
            limits.ensure(limits.size(right) * max(left, 0), how)
    elif op == "**":
        if is_int(left) and is_int(right) and right > 0 and abs(left) > 1:
            _int_bits(left.bit_length() * min(right, MAX_INT_BITS + 1), how)
    elif op == "+":
        if is_sequence(left) and is_sequence(right):
            limits.ensure(limits.size(left) + limits.size(right), how)
    elif op == "%" and isinstance(left, (str, bytes)):
        format_size(limits, left, right, how, braces=False)


def _replaced_size(s: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not all(isinstance(x, (str, bytes)) for x in (s, old, new)):
        return 0
    hits = s.count(old) if old else len(s) + 1
    if is_int(count) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def before_method(limits: Limits, method: Any, args: tuple, kwargs: dict) -> tuple:
    """Builtin methods whose result can dwarf their inputs. Returns the arguments: join's
    iterable is read here, so it is handed on as a list."""
    target, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(target, (str, bytes, int)):
        return args
    how = f"with .{name}()"
    for value in (*args, *kwargs.values()):  # a width, a count or a length: ljust, to_bytes...
        if is_int(value):
            limits.ensure(abs(value), how)
    if isinstance(target, int):
        return args
    if name == "join" and args:
        args = (list(args[0]),) + args[1:]
        limits.ensure(sum(map(limits.size, args[0])) + len(target) * len(args[0]), how)
    elif name == "replace":
        limits.ensure(_replaced_size(target, *args[:3]), how)
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        tabs = target.count("\t" if isinstance(target, str) else b"\t")
        limits.ensure(len(target) + tabs * (max(tab, 0) if is_int(tab) else 8), how)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
        limits.ensure(len(target) * max(longest, 1), how)
    return args


def before_filter(limits: Limits, name: str, args: list, kwargs: dict) -> None:
    """`args`: the filter's own arguments, the value first. join reads its iterable here, so
    args[0] becomes a list."""
    how = f"with |{name}"
    for value in (*args[1:], *kwargs.values()):  # center(10**9), batch(10**9)...
        if is_int(value):
            limits.ensure(abs(value), how)
    if name == "join" and args:
        args[0] = items = list(args[0])
        sep = args[1] if len(args) > 1 else kwargs.get("d", "")
        limits.ensure(sum(map(limits.size, items)) + len(str(sep)) * len(items), how)
    elif name in ("indent", "replace", "wordwrap", "format") and args:
        text = str(args[0])
        if name == "indent":
            width = args[1] if len(args) > 1 else kwargs.get("width", 4)
            per_line = len(width) if isinstance(width, str) else width if is_int(width) else 0
            limits.ensure(len(text) + (text.count("\n") + 1) * max(per_line, 0), how)
        elif name == "replace":
            old, new = (list(args[1:3]) + ["", ""])[:2]
            count = args[3] if len(args) > 3 else kwargs.get("count")
            limits.ensure(_replaced_size(text, str(old), str(new), -1 if count is None else count), how)
        elif name == "wordwrap":
            wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring")
            limits.ensure(len(text) * (1 + (len(wrap) if isinstance(wrap, str) else 1)), how)
        else:
            format_size(limits, text, (*args[1:], *kwargs.values()), how, braces=False)
    elif name == "tojson" and args:
        indent = args[1] if len(args) > 1 else kwargs.get("indent")
        parts = [indent if isinstance(indent, str) else " " * min(abs(indent), 99)
                 if is_int(indent) else ""]
        separators = (args[3] if len(args) > 3 else kwargs.get("separators")) or ()
        parts += [s for s in separators if isinstance(s, str)] if isinstance(separators, (list, tuple)) else []
        if any(len(part) > MAX_SEPARATOR for part in parts):
            raise LimitExceeded(f"The model's chat template asks |tojson for an indent or "
                                f"separator longer than {MAX_SEPARATOR} characters.")


