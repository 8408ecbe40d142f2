"""A Jinja sandbox that bounds what an untrusted chat template can build.

A GGUF's chat template is code from whoever published the file. jinja2's sandbox keeps it
from Python's internals, not from `'x' * 10**9`, loops nested three deep or a macro calling
itself. Jinja compiles to Python bytecode, which the watchdog of inference/interrupt.py stops
at the deadline, on Stop, or when memory grows too much; what it cannot stop is one long C
call. So every value a template makes passes a check of template_limits.py: operators, calls,
filters, `~`, list/tuple/dict displays, namespace attributes and output. Values also come
from the variables (the caller's conversation: the limit grows with it) and literals (bounded
by the source).
"""

from __future__ import annotations

import threading
import types
from functools import wraps
from typing import Any, Callable

from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.filters import make_attrgetter
from jinja2.runtime import Namespace
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment

from .template_limits import (
    LimitExceeded,
    Limits,
    before_binop,
    before_filter,
    before_method,
    format_size,
)

MAX_CALL_DEPTH = 64  # macros calling macros: each level costs C stack in the rendering thread

_UNBOUNDED = Limits(2_000_000)
_local = threading.local()  # for namespaces, which cannot reach their environment


@pass_environment
def _sum(env: "BoundedEnvironment", iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """jinja's |sum, but lists or strings are added one `+` at a time, each checked (the
    builtin sum() would copy the growing total once per item in one uninterruptible call)."""
    if attribute is not None:
        iterable = map(make_attrgetter(env, attribute), iterable)
    values = list(iterable)
    if all(isinstance(v, (int, float)) for v in values):
        return sum(values, start)
    total = start
    for value in values:
        total = env.call_binop(None, "+", total, value)
    return total


# -- the environment ----------------------------------------------------------------------------

class _BoundedNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        limits = getattr(_local, "limits", None) or _UNBOUNDED
        limits.tick()
        super().__setitem__(name, limits.check(value, f"in namespace attribute '{name}'"))


class _BoundedCodeGenerator(CodeGenerator):
    """Routes `~` and list/tuple/dict displays through the environment's checks."""

    @optimizeconst
    def visit_Concat(self, node, frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def _checked(self, visit: Callable, node, frame) -> None:
        self.write("environment.bounded_value(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Dict(self, node, frame) -> None:
        self._checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node, frame) -> None:
        if node.ctx == "load":
            self._checked(super().visit_Tuple, node, frame)
        else:  # an assignment target: {% for a, b in ... %}
            super().visit_Tuple(node, frame)


@pass_environment
def _finalize(env: "BoundedEnvironment", value: Any) -> Any:
    limits = env.limits
    if type(value) is str and len(value) <= limits.max_chars:
        return value
    limits.tick()
    return limits.check(value, "to write out")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Not for two threads at once: `activate` points it at one render's Limits."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def __init__(self, *, filters: dict | None = None, globals: dict | None = None,
                 **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.limits = _UNBOUNDED
        self.globals.pop("lipsum", None)  # lipsum(10**9): nothing a chat template needs
        self.globals["namespace"] = _BoundedNamespace
        self.globals.update(globals or {})
        merged = {**self.filters, "sum": _sum, **(filters or {})}
        merged.pop("urlize", None)  # regular expressions over untrusted text: not needed here
        self.filters = {name: self._bounded_filter(name, f) for name, f in merged.items()}

    def activate(self, limits: Limits | None) -> None:
        self.limits = _local.limits = limits or _UNBOUNDED

    def _bounded_filter(self, name: str, func: Callable) -> Callable:
        skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

        @wraps(func)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            limits = self.limits
            limits.tick()
            own = list(args[skip:])
            before_filter(limits, name, own, kwargs)
            return limits.check(func(*args[:skip], *own, **kwargs), f"with |{name}")

        return bounded

    def concat(self, parts: Any) -> str:  # macro, call-block and {% set %}…{% endset %} bodies
        parts = parts if isinstance(parts, list) else list(parts)
        self.limits.ensure(sum(map(len, parts)), "in a macro or block")
        return "".join(parts)

    def bounded_join(self, parts: tuple) -> str:
        limits = self.limits
        limits.tick()
        strings = [p if type(p) is str else str(p) for p in parts]
        limits.ensure(sum(map(len, strings)), "with '~'")
        return "".join(strings)

    def bounded_value(self, value: Any) -> Any:
        self.limits.tick()
        return self.limits.check(value, "in a list, tuple or dict")

    def call_binop(self, context, op: str, left: Any, right: Any) -> Any:
        if op == "+" and type(left) is str and type(right) is str:  # most of them: kept short
            if len(left) + len(right) > self.limits.max_chars:
                self.limits.ensure(len(left) + len(right), "with '+'")
            return left + right
        before_binop(self.limits, op, left, right)
        return self.binop_table[op](left, right)

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        limits = __self.limits
        limits.tick()
        if isinstance(__obj, (types.BuiltinMethodType, types.BuiltinFunctionType)):
            args = before_method(limits, __obj, args, kwargs)
        if limits.call_depth >= MAX_CALL_DEPTH:
            raise LimitExceeded(f"The model's chat template calls macros more than "
                                f"{MAX_CALL_DEPTH} deep (endless recursion?).")
        limits.call_depth += 1
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            limits.call_depth -= 1
        return limits.check(result, f"with {getattr(__obj, '__name__', 'a call')}()")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt, is_map = value.__self__, value.__name__ == "format_map"

        @wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            mapping = is_map and args and isinstance(args[0], dict)
            values = list(args[0].values()) if mapping else [*args, *kwargs.values()]
            format_size(self.limits, fmt, values, f"with .{value.__name__}()", braces=True)
            return wrapper(*args, **kwargs)

        return bounded


def render_template(env: BoundedEnvironment, template, variables: dict, limits: Limits) -> str:
    """Render `template` (compiled by `env`) under `limits`, counting its output as it comes.
    Run it inside interrupt.guarded with limits.guard."""
    env.activate(limits)
    chunks = template.generate(variables)
    try:
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limits.max_chars:
                raise LimitExceeded(f"The model's chat template writes more than "
                                    f"{limits.max_chars:,} characters for this conversation.")
            out.append(chunk)
        return "".join(out)
    finally:
        chunks.close()
        env.activate(None)
