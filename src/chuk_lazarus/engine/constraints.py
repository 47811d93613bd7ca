"""Output constraints as grammars: a JSON schema becomes a grammar that the sampler enforces token by token.

The schema-to-grammar converter belongs to the backend (its sampler decides the grammar's form; see
`Backend.schema_grammar`), so it is passed in: nothing here loads an engine library. GBNF is the
neutral form the rest of the planning writes (both backends take it today).
"""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidRequest
from ..core.grammar import SchemaGrammar
from ..core.types import ResponseFormat

# Any JSON object (OpenAI `json_object`, Ollama `format: "json"`).
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def grammar_for_response_format(fmt: ResponseFormat, schema_grammar: SchemaGrammar) -> str | None:
    if fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return schema_grammar(JSON_OBJECT_SCHEMA, param="response_format")
    if fmt.schema is None:
        raise InvalidRequest(
            "response_format json_schema needs a schema", param="response_format.json_schema"
        )
    return schema_grammar(fmt.schema, param="response_format.json_schema.schema")

