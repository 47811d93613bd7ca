"""Walking a JSON schema's subschemas: where a keyword is, how deep it nests, OpenAI's strict rules.

Pure data: the planner checks a schema with these before any backend compiles it, and a backend uses
`keyword_pointer` to say where the keyword its compiler refused sits. Iterative, so a schema nested a
thousand levels deep is refused, not a RecursionError.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import InvalidRequest

# Deeper than this is refused (OpenAI allows 10 levels of nesting in strict mode; real schemas with
# recursion go through `$ref`, which does not nest the document).
MAX_SCHEMA_DEPTH = 64
# A schema larger than this is refused before any compile (OpenAI allows 5000 properties and 1000 enum
# values in strict mode; compile time here grows faster than linearly: 1000 subschemas take about a second,
# 4000 about twenty, and a 100k-value enum takes seconds to fail).
MAX_SUBSCHEMAS = 1000
MAX_ENUM_VALUES = 2000

SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf", "allOf")
SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
               "unevaluatedProperties", "unevaluatedItems", "additionalItems", "contentSchema")  # fmt: skip


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def subschemas(schema: Any) -> Iterator[tuple[str, dict[str, Any], int]]:
    """Every schema object in `schema`, as (JSON pointer, node, depth), the root first."""
    stack: list[tuple[str, Any, int]] = [("#", schema, 0)]
    while stack:
        pointer, node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        yield pointer, node, depth
        children: list[tuple[str, Any, int]] = []
        for key in SCHEMA_MAPS:
            value = node.get(key)
            if isinstance(value, dict):
                children += [(f"{pointer}/{key}/{_escape(k)}", v, depth + 1) for k, v in value.items()]
        for key in SCHEMA_LISTS + SCHEMA_ONE:
            value = node.get(key)
            if isinstance(value, list) and key in SCHEMA_LISTS + ("items",):
                children += [(f"{pointer}/{key}/{i}", v, depth + 1) for i, v in enumerate(value)]
            elif isinstance(value, dict):
                children.append((f"{pointer}/{key}", value, depth + 1))
        stack.extend(reversed(children))


def keyword_pointer(schema: Any, keyword: str, value: Any = None) -> str | None:
    """The JSON pointer of the first schema object with `keyword` (equal to `value`, when given)."""
    for pointer, node, _ in subschemas(schema):
        if keyword in node and (value is None or node[keyword] == value):
            return pointer
    return None


def check_size(schema: Any, *, param: str) -> None:
    """Refuse a schema nested too deep or too large to compile quickly (see the limits above)."""
    values = 0
    for nodes, (pointer, node, depth) in enumerate(subschemas(schema), start=1):
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidRequest(
                f"the JSON schema nests deeper than {MAX_SCHEMA_DEPTH} levels (at {pointer[:200]}…)",
                param=param,
            )
        if isinstance(node.get("enum"), list):
            values += len(node["enum"])
        if nodes > MAX_SUBSCHEMAS or values > MAX_ENUM_VALUES:
            what = (
                f"{MAX_SUBSCHEMAS} subschemas" if nodes > MAX_SUBSCHEMAS else f"{MAX_ENUM_VALUES} enum values"
            )
            raise InvalidRequest(
                f"the JSON schema is too large: more than {what} (at {pointer[:200]})", param=param
            )


def check_strict(schema: Any, *, param: str) -> None:
    """OpenAI's structured-output rules for `strict: true`: every object says `additionalProperties:
    false` and requires every property it lists. Refused with the path, as OpenAI does."""
    if not isinstance(schema, dict):
        raise InvalidRequest("a strict schema must be a JSON object", param=param)
    for pointer, node, _ in subschemas(schema):
        is_object = (
            node.get("type") == "object"
            or (isinstance(node.get("type"), list) and "object" in node["type"])
            or "properties" in node
        )
        if not is_object:
            continue
        if node.get("additionalProperties") is not False:
            raise InvalidRequest(
                f"Invalid schema (strict): at {pointer}, 'additionalProperties' is required to be supplied "
                "and to be false",
                param=param,
            )
        properties = node.get("properties") or {}
        required = node.get("required") or []
        missing = [k for k in properties if k not in required]
        if missing:
            raise InvalidRequest(
                f"Invalid schema (strict): at {pointer}, 'required' is required to be supplied and to be an "
                f"array including every key in properties. Missing {missing[0]!r}.",
                param=param,
            )
