"""Output constraints as grammars: a JSON schema becomes GBNF that the sampler enforces token by token.

GBNF is the neutral form: llama.cpp's grammar sampler runs it directly. The schema-to-GBNF converter
is llama.cpp's own (`json_schema_to_grammar.py`, as shipped in llama-cpp-python), not a rewrite.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidRequest
from .types import ResponseFormat

# Any JSON object (OpenAI `json_object`, Ollama `format: "json"`).
JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def schema_to_gbnf(schema: dict[str, Any], *, param: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(schema)))
    except RecursionError:
        raise InvalidRequest("the JSON schema is recursive in a way the grammar cannot express", param=param) from None
    except Exception as exc:
        raise InvalidRequest(f"the JSON schema cannot be turned into a grammar: {exc}", param=param) from None


def grammar_for_response_format(fmt: ResponseFormat) -> str | None:
    if fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return schema_to_gbnf(JSON_OBJECT_SCHEMA, param="response_format")
    if fmt.schema is None:
        raise InvalidRequest("response_format json_schema needs a schema", param="response_format.json_schema")
    return schema_to_gbnf(fmt.schema, param="response_format.json_schema.schema")
