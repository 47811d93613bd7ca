"""GBNF, the grammar language output constraints are written in today (llama.cpp's; llguidance reads it
too): how to quote a literal, and the type of the JSON-schema converter a backend provides.

Neutral: the tool-call grammars (tools/), the planner (engine/) and the samplers (backends/) all
write or read GBNF, and none of them should depend on another for that.
"""

from __future__ import annotations

from typing import Any, Protocol


class SchemaGrammar(Protocol):
    """A JSON schema -> the grammar for JSON valid against it (`Backend.schema_grammar`, bound).

    A protocol rather than a `Callable` alias so that `param` stays keyword-only in the type."""

    def __call__(self, schema: dict[str, Any], *, param: str) -> str:
        """Raises `InvalidRequest` naming `param` when the schema cannot be expressed."""


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'
