"""The tool-call formats by name, and which one a chat template's model writes."""

from __future__ import annotations

from .base import ToolParser
from .deepseek import DeepSeekR1Parser
from .generic import GenericJsonParser
from .granite import GraniteParser, Phi4MiniParser
from .harmony import HarmonyParser
from .hermes import HermesParser
from .llama3 import Llama3JsonParser
from .mistral import MistralParser
from .pythonic import PythonicParser

# Detection order matters: a Llama template mentions `{"name"`-style JSON *and* may carry other text;
# harmony and DeepSeek templates are checked before the formats whose markers are plainer text.
PARSERS: dict[str, type[ToolParser]] = {
    p.name: p
    for p in (
        HarmonyParser,
        DeepSeekR1Parser,
        MistralParser,
        GraniteParser,
        Phi4MiniParser,
        Llama3JsonParser,
        PythonicParser,
        HermesParser,
        GenericJsonParser,
    )
}
ALIASES = {
    "qwen": "hermes",
    "qwen2_5": "hermes",
    "qwen3": "hermes",
    "smollm3": "hermes",
    "llama3": "llama3_json",
    "llama3_1": "llama3_json",
    "generic": "json",
    "gpt-oss": "harmony",
    "gpt_oss": "harmony",
    "openai": "harmony",
    "deepseek": "deepseek_r1",
    "deepseek_v3": "deepseek_r1",
    "granite3": "granite",
    "phi4": "phi4_mini",
    "magistral": "mistral",
    "llama4": "pythonic",
}


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
