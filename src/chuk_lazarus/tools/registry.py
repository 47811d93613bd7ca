"""The tool-call formats by name, and which one a chat template's model writes."""

from __future__ import annotations

from .base import ToolParser
from .generic import GenericJsonParser
from .hermes import HermesParser
from .llama3 import Llama3JsonParser
from .mistral import MistralParser
from .pythonic import PythonicParser

# Detection order matters: a Llama template mentions `{"name"`-style JSON *and* may carry other text.
PARSERS: dict[str, type[ToolParser]] = {
    p.name: p for p in (MistralParser, Llama3JsonParser, PythonicParser, HermesParser, GenericJsonParser)
}
ALIASES = {"qwen": "hermes", "llama3": "llama3_json", "generic": "json"}


def available_parsers() -> list[str]:
    """The names `--tool-parser` accepts (aliases not included)."""
    return sorted(PARSERS)


def get_parser(name: str) -> type[ToolParser]:
    key = ALIASES.get(name, name)
    if key not in PARSERS:
        raise ValueError(f"unknown tool parser {name!r}; choose one of: {', '.join(available_parsers())}")
    return PARSERS[key]


def select_parser(template_source: str | None, override: str | None = None) -> type[ToolParser] | None:
    """The format named by `override`, else the one whose markers the template mentions, else None
    (the template has no tool format we know; the engine then teaches the model the generic one)."""
    if override:
        return get_parser(override)
    source = template_source or ""
    for parser in PARSERS.values():
        if any(marker in source for marker in parser.template_markers):
            return parser
    return None
