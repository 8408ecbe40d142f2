"""A batch's columns: a JSON schema typed by hand or built from a small form, and each answer
checked against it after generation (the grammar makes it well-formed JSON; the checks here
catch what a grammar cannot say, and a model cut off mid-answer)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from inference.structured import SchemaError, check_schema_shape, parse_schema

COLUMN_TYPES = ("string", "number", "integer", "boolean", "enum")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"  # one of COLUMN_TYPES
    choices: tuple[str, ...] = ()  # for "enum"


def parse_columns(text: str) -> list[Column]:
    """`label:spam|ham, score:number, note` → columns (type string when none is given)."""
    columns = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, kind = part.partition(":")
        kind = kind.strip() or "string"
        if "|" in kind:
            columns.append(Column(name.strip(), "enum", tuple(kind.split("|"))))
        else:
            columns.append(Column(name.strip(), kind))
    return columns


def schema_from_columns(columns: list[Column]) -> dict:
    """An object schema with one required property per column, in the form's order."""
    if not columns:
        raise SchemaError("Add at least one column.")
    properties: dict = {}
    for column in columns:
        name = column.name.strip()
        if not name:
            raise SchemaError("Every column needs a name.")
        if name in properties:
            raise SchemaError(f"Two columns are named “{name}”.")
        if column.type == "enum":
            choices = [c.strip() for c in column.choices if c.strip()]
            if len(choices) < 1:
                raise SchemaError(f"Column “{name}” needs at least one value to choose from.")
            properties[name] = {"type": "string", "enum": choices}
        elif column.type in COLUMN_TYPES:
            properties[name] = {"type": column.type}
        else:
            raise SchemaError(f"Column “{name}” has an unknown type “{column.type}”.")
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def column_names(schema: dict | None) -> list[str]:
    """The table's columns for answers under `schema`: its top-level properties, else one."""
    if schema and isinstance(schema.get("properties"), dict):
        return list(schema["properties"])
    return ["answer"]


def load_schema(text: str) -> dict:
    """A schema from a file's text, checked by jsonschema's meta-schema where it can be."""
    schema = parse_schema(text)
    _meta_check(schema)
    return schema


def _meta_check(schema: dict) -> None:
    try:
        import jsonschema
    except ImportError:  # the checks below still run on the answers
        return
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"The schema is not valid: {exc.message}.") from None
    except RecursionError:
        raise SchemaError("The schema is nested too deeply.") from None


def validate_answer(text: str, schema: dict) -> dict:
    """The answer parsed as JSON and checked against `schema`; SchemaError says what is off."""
    check_schema_shape(schema)
    try:  # strict=False: the grammar lets a tab or other control character into a string
        value = json.loads(text, strict=False)
    except ValueError:
        raise SchemaError("The answer is not complete JSON.") from None
    except RecursionError:
        raise SchemaError("The answer is nested too deeply.") from None
    try:
        import jsonschema
    except ImportError:
        _small_check(value, schema)
    else:
        try:
            error = jsonschema.exceptions.best_match(
                jsonschema.validators.validator_for(schema)(schema).iter_errors(value))
        except RecursionError:
            raise SchemaError("The answer is nested too deeply.") from None
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the answer"
            raise SchemaError(f"{where}: {error.message}"[:300])
    if not isinstance(value, dict):
        value = {"answer": value}
    return value


def _small_check(value, schema: dict) -> None:
    """Without jsonschema: the column types and choices a form can build."""
    if schema.get("type") == "object":
        if not isinstance(value, dict):
            raise SchemaError("The answer is not a JSON object.")
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaError(f"The answer has no “{name}”.")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and isinstance(sub, dict):
                _small_check(value[name], sub)
        return
    kinds = {"string": str, "boolean": bool, "integer": int, "number": (int, float)}
    wanted = kinds.get(schema.get("type"))
    if wanted and (not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool))):
        raise SchemaError(f"{value!r} is not of type {schema['type']}.")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{value!r} is not one of {schema['enum']}.")
