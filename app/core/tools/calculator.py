"""Exact arithmetic for the model: `0.1 + 0.2` is 0.3, `2**100` is every digit.

The expression is parsed into Python's AST and only numbers, + - * / // % **, parentheses and
a few named functions are evaluated — nothing of the model's text is ever `eval`ed. Numbers
are exact fractions until a function (sqrt, sin…) needs a float. Sizes are bounded before
they are computed, so `9**9**9` is refused at once rather than filling the memory.
"""

from __future__ import annotations

import ast
import math
from fractions import Fraction
from typing import Any, Callable

from app.core.tools.base import ToolContext, ToolError, ToolOutput, ToolSpec

MAX_CHARS = 2000
MAX_NODES = 400
MAX_BITS = 20_000  # about 6,000 decimal digits: far beyond any sum a person needs
MAX_FACTORIAL = 1000

Number = Fraction | float

_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt, "exp": math.exp, "ln": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh,
    "degrees": math.degrees, "radians": math.radians,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _bits(x: Number) -> float:
    if isinstance(x, float):
        return 0.0 if x == 0 or not math.isfinite(x) else abs(math.log2(abs(x)))
    return max(x.numerator.bit_length(), x.denominator.bit_length())


def _check(x: Number) -> Number:
    if isinstance(x, float) and not math.isfinite(x):
        raise ToolError("The result is not a finite number.")
    if _bits(x) > MAX_BITS:
        raise ToolError("The result would have thousands of digits; the calculator stops there.")
    return x


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(exponent, Fraction) and exponent.denominator == 1 and isinstance(base, Fraction):
        n = exponent.numerator
        if base not in (0, 1, -1) and abs(n) * max(_bits(base), 1) > MAX_BITS:
            raise ToolError("The result would have thousands of digits; the calculator stops there.")
        if base == 0 and n < 0:
            raise ToolError("Division by zero.")
        return base ** n
    try:
        result = float(base) ** float(exponent)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ToolError("The result is too large.") from exc
    if isinstance(result, complex):
        raise ToolError("The result is not a real number.")
    return result


def _binary(op: ast.operator, a: Number, b: Number) -> Number:
    try:
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            if _bits(a) + _bits(b) > MAX_BITS:
                raise ToolError("The result would have thousands of digits; the calculator stops there.")
            return a * b
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.FloorDiv):
            return Fraction(math.floor(a / b)) if isinstance(a / b, Fraction) else float(a // b)
        if isinstance(op, ast.Mod):
            return a % b
        if isinstance(op, ast.Pow):
            return _power(a, b)
    except ZeroDivisionError as exc:
        raise ToolError("Division by zero.") from exc
    raise ToolError(f"The calculator does not do '{type(op).__name__}'.")


def _evaluate(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(node.value) if isinstance(node.value, int) else Fraction(repr(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _check(_binary(node.op, _evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        return _call(node.func.id, [_evaluate(a) for a in node.args])
    raise ToolError("Only numbers, + - * / // % **, parentheses and functions such as sqrt, "
                    "sin, ln, round, abs and factorial are allowed.")


def _call(name: str, args: list[Number]) -> Number:
    if name == "abs" and len(args) == 1:
        return abs(args[0])
    if name in ("round", "floor", "ceil") and len(args) in (1, 2):
        if name != "round":
            f = math.floor if name == "floor" else math.ceil
            return Fraction(f(args[0]))
        digits = int(args[1]) if len(args) == 2 else 0
        return Fraction(round(Fraction(args[0]), digits)) if isinstance(args[0], Fraction) \
            else round(args[0], digits)
    if name == "factorial" and len(args) == 1:
        n = args[0]
        if not (isinstance(n, Fraction) and n.denominator == 1 and 0 <= n <= MAX_FACTORIAL):
            raise ToolError(f"factorial takes a whole number from 0 to {MAX_FACTORIAL}.")
        return Fraction(math.factorial(int(n)))
    if name in _FUNCTIONS and len(args) == 1:
        try:
            return _check(_FUNCTIONS[name](float(args[0])))
        except (ValueError, OverflowError) as exc:
            raise ToolError(f"{name}({_show(args[0])}) is not defined.") from exc
    raise ToolError(f"Unknown function {name}() or wrong number of arguments.")


def _show(x: Number) -> str:
    if isinstance(x, float):
        return repr(x)
    if x.denominator == 1:
        return str(x.numerator)
    # A fraction whose decimal expansion ends is shown as a decimal (0.3), exactly; others as
    # the fraction with its value to 15 digits.
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    places = max(twos, fives)
    if d == 1 and places <= 60:
        scaled = abs(x.numerator) * 10 ** places // x.denominator
        digits = str(scaled).rjust(places + 1, "0")
        text = (digits[:-places] + "." + digits[-places:]).rstrip("0").rstrip(".")
        return ("-" if x < 0 else "") + text
    return f"{x.numerator}/{x.denominator} ≈ {float(x):.15g}"


def calculate(expression: str) -> str:
    """The value of `expression`, as text; ToolError for anything it cannot compute."""
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise ToolError("The expression is empty.")
    if len(text) > MAX_CHARS:
        raise ToolError(f"The expression is longer than {MAX_CHARS} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ToolError(f"Not an arithmetic expression: {text}") from exc
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolError("The expression is too long to compute.")
    try:
        return _show(_evaluate(tree))
    except RecursionError as exc:
        raise ToolError("The expression is nested too deeply.") from exc


class Calculator:
    spec = ToolSpec(
        name="calculator", title="Calculator",
        description="Computes an arithmetic expression exactly (fractions, big integers) and "
                    "returns its value. Use it for any arithmetic instead of doing it in your head.",
        parameters={"type": "object",
                    "properties": {"expression": {
                        "type": "string",
                        "description": "e.g. (1.1 + 2.2) * 3, 2**64, sqrt(2), factorial(20)"}},
                    "required": ["expression"]})

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        return ToolOutput(calculate(arguments["expression"]))

    def close(self) -> None:
        pass
