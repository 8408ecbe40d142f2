"""Structured output: a JSON schema becomes a llama.cpp grammar, checked before any use.

llama-cpp-python's own converter (`json_schema_to_gbnf`, the Python twin of llama.cpp's
json-schema-to-grammar) writes the GBNF. Both steps can go wrong on a schema a person wrote:
the converter raises assorted exceptions (AssertionError, AttributeError, RecursionError) on
schemas it does not support, and a grammar llama.cpp cannot use must never reach a decode.
So the schema is bounded, converted under a catch-all, and the grammar parsed once by
llama.cpp's own parser (`Engine.check_sampling`) before the first document; every failure is
a SchemaError, a UserError with one line for the person.
"""

from __future__ import annotations

import json
import re

from common.errors import UserError

MAX_SCHEMA_CHARS = 64_000
MAX_SCHEMA_DEPTH = 32
# The converter spells out repetitions ("minLength": 100000 is 500 KB of grammar, and llama.cpp
# builds a state per element): a grammar larger than this is refused rather than parsed.
MAX_GRAMMAR_CHARS = 200_000
_REPEAT = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")
MAX_REPEAT = 10_000
_TOKEN_REF = re.compile(r"<\[\s*\d+\s*\]>")  # llama.cpp's `<[id]>`: out of range reads past the vocab


class SchemaError(UserError, ValueError):
    """A JSON schema or grammar that cannot constrain generation; the message is for the user."""


def _depth(value, limit: int, level: int = 0) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max((_depth(v, limit, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, limit, level + 1) for v in value), default=level)
    return level


def parse_schema(text: str) -> dict:
    """A schema from JSON text: an object, bounded in size and depth."""
    if len(text) > MAX_SCHEMA_CHARS:
        raise SchemaError(f"The schema is too long ({len(text):,} characters; at most "
                          f"{MAX_SCHEMA_CHARS:,}).")
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"The schema is not valid JSON: {exc}.") from None
    return check_schema_shape(schema)


def check_schema_shape(schema) -> dict:
    if not isinstance(schema, dict):
        raise SchemaError("A schema must be a JSON object, such as {\"type\": \"object\", …}.")
    if _depth(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise SchemaError(f"The schema is nested too deeply (more than {MAX_SCHEMA_DEPTH} levels).")
    return schema


def grammar_for_schema(schema: dict) -> str:
    """The GBNF grammar whose sentences are the JSON documents `schema` allows."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    check_schema_shape(schema)
    try:
        grammar = json_schema_to_gbnf(json.dumps(schema))
    except RecursionError:
        raise SchemaError("The schema refers to itself too deeply to become a grammar.") from None
    except Exception as exc:  # noqa: BLE001 - the converter raises anything on odd schemas
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"This schema cannot constrain the model's output: {detail[:200]}.") from None
    check_grammar_text(grammar)
    return grammar


def check_grammar_text(grammar: str) -> None:
    """Bounds llama.cpp's parser would not enforce: size, and the counts of repetitions."""
    if not grammar.strip():
        raise SchemaError("The grammar is empty.")
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise SchemaError(f"The schema makes a grammar too large to use ({len(grammar):,} "
                          f"characters; at most {MAX_GRAMMAR_CHARS:,}): lower its lengths or "
                          "counts.")
    if _TOKEN_REF.search(grammar):  # never written by the converter; an unknown id is unchecked
        raise SchemaError("The grammar names tokens by number, which Hearth does not allow.")
    for match in _REPEAT.finditer(grammar):
        counts = [int(n) for n in match.groups() if n]
        if any(n > MAX_REPEAT for n in counts):
            raise SchemaError(f"The grammar repeats something {max(counts):,} times; at most "
                              f"{MAX_REPEAT:,}.")


def check_grammar(engine, grammar: str) -> None:
    """Parse `grammar` with llama.cpp's own parser, against this model's vocabulary, once:
    SchemaError if it would not make a sampler."""
    from .sampling import Sampling

    check_grammar_text(grammar)
    try:
        engine.check_sampling(Sampling(temperature=0.0, grammar=grammar))
    except ValueError:
        raise SchemaError("llama.cpp cannot use this grammar (it does not parse: an undefined "
                          "rule, left recursion or a syntax error).") from None
