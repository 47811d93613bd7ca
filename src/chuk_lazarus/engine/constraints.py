"""Output constraints from a request: `response_format` (and Ollama `format`) as a neutral `Constraint`.

The constraint is grammar text in llguidance's lark dialect with the schema embedded (core/grammar.py);
the backend compiles it (`Backend.check_constraint`), so nothing here loads an engine library. What is
checked here is what no compiler reports: how deep the schema nests, and OpenAI's strict-mode rules.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidRequest
from ..core.grammar import Constraint, schema_constraint
from ..core.schema import check_size, check_strict
from ..core.types import GenerationRequest, ResponseFormat

# Any JSON object (OpenAI `json_object`, Ollama `format: "json"`).
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def check_schema(schema: dict[str, Any], *, param: str, strict: bool) -> None:
    check_size(schema, param=param)
    if strict:
        check_strict(schema, param=param)


def check_schemas(request: GenerationRequest) -> None:
    """The request's tool and response schemas: nesting depth, and strict mode where asked."""
    for i, tool in enumerate(request.tools):
        check_schema(tool.parameters, param=f"tools[{i}].function.parameters", strict=tool.strict)
    fmt = request.response_format
    if fmt.type == "json_schema" and fmt.schema is not None:
        check_schema(fmt.schema, param="response_format.json_schema.schema", strict=fmt.strict)


def response_constraint(fmt: ResponseFormat) -> Constraint | None:
    if fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return schema_constraint(JSON_OBJECT_SCHEMA, param="response_format")
    param = "response_format.json_schema.schema"
    if fmt.schema is None:
        raise InvalidRequest(
            "response_format json_schema needs a schema", param="response_format.json_schema"
        )
    return schema_constraint(fmt.schema, param=param)


# A caller's GBNF grammar, at most this long (llama.cpp's grammars run to a few KiB; this bounds the
# work of converting and compiling one before anything else checks it).
MAX_GRAMMAR_CHARS = 100_000


def grammar_constraint(request: GenerationRequest, planned: Constraint | None) -> Constraint | None:
    """The caller's own GBNF grammar (llama-server's `grammar`), converted and compiled by the backend
    like any constraint; it cannot be combined with another constraint on the same output."""
    if request.grammar is None:
        return planned
    if len(request.grammar) > MAX_GRAMMAR_CHARS:
        raise InvalidRequest(f"grammar is longer than {MAX_GRAMMAR_CHARS} characters", param="grammar")
    if not request.grammar.strip():
        raise InvalidRequest("grammar is empty", param="grammar")
    if planned is not None or request.response_format.type != "text":
        raise InvalidRequest(
            "grammar cannot be combined with response_format, json_schema or tools on the same request",
            param="grammar",
        )
    return Constraint(request.grammar, syntax="gbnf", param="grammar")
