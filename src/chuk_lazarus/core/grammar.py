"""The neutral output constraint every backend compiles: a grammar in llguidance's lark dialect.

JSON schemas are embedded in the grammar as `%json{...}` (llguidance compiles JSON Schema itself, so
every keyword it implements is enforced and every one it does not is an error, never ignored); the
markup around tool calls is lark rules. A user's own GBNF grammar travels as GBNF. Writing the text
needs no grammar library: the planner (engine/) and the tool formats (tools/) build constraints, and
each backend compiles them (backends/guidance.py) — and reports the compile errors as 400s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .schema import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_ONE
from .types import LazyTrigger

# How generated JSON is written: compact (no whitespace between tokens, so a weak model cannot pad
# forever and the keys the schema fixes are forced), and strict about keywords (`lenient: false`: an
# unimplemented keyword is a compile error). Overrides whatever "x-guidance" a request sends.
JSON_OPTIONS: dict[str, Any] = {"whitespace_flexible": False, "lenient": False}


@dataclass(frozen=True)
class EmbeddedSchema:
    """A JSON schema inside a constraint's grammar, with the request field it came from (for errors)."""

    param: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Constraint:
    """What the output must match. `syntax` "lark": llguidance's lark (`start` is the root); "gbnf": a
    user's llama.cpp grammar (`root`). `schemas`: the JSON schemas embedded in `grammar`, so a compile
    error can name the field and keyword. `triggers` non-empty: the constraint is lazy, starting at the
    first one (see backends/triggers.py)."""

    grammar: str
    syntax: Literal["lark", "gbnf"] = "lark"
    schemas: tuple[EmbeddedSchema, ...] = ()
    triggers: tuple[LazyTrigger, ...] = ()
    param: str = "response_format"  # the field a compile error not about one schema is reported on


def json_embed(schema: dict[str, Any]) -> str:
    """`schema` as a lark `%json{...}` term, with our JSON options in force."""
    options = dict(schema.get("x-guidance") or {}) if isinstance(schema.get("x-guidance"), dict) else {}
    closed = close_objects(schema)
    return "%json" + json.dumps({**closed, "x-guidance": {**options, **JSON_OPTIONS}}, ensure_ascii=False)


_OPEN_KEYS = (
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
)


def close_objects(node: Any, *, in_all_of: bool = False) -> Any:
    """`node` with `additionalProperties: false` on every object that lists `properties` and says
    nothing about other keys — as llama.cpp's and xgrammar's converters do. Only instances the schema
    allows are produced (a subset), and a small model no longer invents keys until max_tokens. Objects
    combined with others (an `allOf` branch, or one with `allOf`/`anyOf`/`$ref` of its own) stay as
    written: closing one part of an intersection would forbid the other part's keys."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: close_objects(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS + ("items",) and isinstance(value, list):
            out[key] = [close_objects(sub, in_all_of=key == "allOf") for sub in value]
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = close_objects(value)
        else:
            out[key] = value
    if isinstance(out.get("properties"), dict) and not in_all_of and not any(k in out for k in _OPEN_KEYS):
        out["additionalProperties"] = False
    return out


def lark_literal(text: str) -> str:
    """`text` as a lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def schema_constraint(schema: dict[str, Any], *, param: str) -> Constraint:
    """Exactly JSON valid against `schema`."""
    return Constraint(f"start: {json_embed(schema)}\n", schemas=(EmbeddedSchema(param, schema),), param=param)
