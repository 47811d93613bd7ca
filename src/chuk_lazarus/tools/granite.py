"""Granite 3.x and Phi-4-mini: a call block opened by one marker, a JSON list (or one object) inside.

- Granite 3.x: `<|tool_call|>[{"name": "f", "arguments": {...}}, ...]`, no close tag (the turn ends).
- Phi-4-mini under llama.cpp's tool template: `<|tool_call|>{"name": "f", "arguments": {...}}<|/tool_call|>`,
  the same markup, so the same parser.
- Phi-4-mini as trained (its own template has no `tools=`): `functools[{"name": "f", "arguments": {...}}]`.
"""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger
from .base import repeated
from .hermes import HermesParser

TOOL_CALL, TOOL_CALL_END = "<|tool_call|>", "<|/tool_call|>"
FUNCTOOLS = "functools["


class GraniteParser(HermesParser):
    name = "granite"
    template_markers = (TOOL_CALL,)
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = (LazyTrigger(TOOL_CALL),)
    open_tag = TOOL_CALL
    close_tag = TOOL_CALL_END
    close_optional = True

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        calls = repeated("lzcall", '"," lz-ws', max_calls)
        return f'root ::= "{TOOL_CALL}" lz-ws "[" lz-ws {calls} lz-ws "]"'


class Phi4MiniParser(HermesParser):
    name = "phi4_mini"
    template_markers = (FUNCTOOLS,)
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = (LazyTrigger(FUNCTOOLS),)
    open_tag = FUNCTOOLS
    close_tag = TOOL_CALL_END  # never written by the model; only so the base has a close marker
    opens_list = True
    close_optional = True

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        calls = repeated("lzcall", '"," lz-ws', max_calls)
        return f'root ::= "{FUNCTOOLS}" lz-ws {calls} lz-ws "]"'
