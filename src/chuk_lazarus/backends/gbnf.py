"""JSON schema -> GBNF, the grammar form both backends' samplers take (llama.cpp natively, transformers
through llguidance). The converter is llama.cpp's own (`json_schema_to_grammar.py`, as shipped in
llama-cpp-python), not a rewrite. The engine reaches it only through `Backend.schema_grammar`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..core.errors import InvalidRequest

# Integer ranges up to this many values are enforced by listing them (see `_bounded_integers`).
MAX_ENUMERATED_RANGE = 512


def _bounded_integers(node: Any) -> Any:
    """The schema with small integer ranges (`minimum`..`maximum`) turned into `enum`s.

    llama-cpp-python's Python port of the converter ignores numeric bounds (its TODO says so), so
    `{"type": "integer", "minimum": 1, "maximum": 9}` would otherwise allow 1000. An enum of the
    allowed values is exact. Wider or one-sided ranges, and bounds on non-integers, stay unenforced.
    """
    if isinstance(node, list):
        return [_bounded_integers(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _bounded_integers(value) for key, value in node.items()}
    if out.get("type") == "integer" and "enum" not in out and "const" not in out:
        low, high = _number(out.get("minimum")), _number(out.get("maximum"))
        if (exclusive := _number(out.get("exclusiveMinimum"))) is not None:
            low = math.floor(exclusive) + 1
        if (exclusive := _number(out.get("exclusiveMaximum"))) is not None:
            high = math.ceil(exclusive) - 1
        if (
            low is not None
            and high is not None
            and 0 <= math.floor(high) - math.ceil(low) < MAX_ENUMERATED_RANGE
        ):
            out = {k: v for k, v in out.items() if k not in ("type", "minimum", "maximum")}
            out["enum"] = list(range(math.ceil(low), math.floor(high) + 1))
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def schema_to_gbnf(schema: dict[str, Any], *, param: str) -> str:
    """GBNF whose `root` is JSON valid against `schema`; `InvalidRequest` naming `param` if it cannot be."""
    # Imported on first use: importing llama_cpp loads llama.cpp's shared library, which importing the
    # backend interface (as the engine does) must not.
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(_bounded_integers(schema))))
    except RecursionError:
        raise InvalidRequest(
            "the JSON schema is recursive in a way the grammar cannot express", param=param
        ) from None
    except Exception as exc:  # noqa: BLE001 - the converter raises whatever its schema walk hits
        raise InvalidRequest(f"the JSON schema cannot be turned into a grammar: {exc}", param=param) from None
