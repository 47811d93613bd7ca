"""Tool calling: output-format parsers (one module each), tool injection, call grammars, validation.

Protocol-neutral. The engine calls `plan_tools` for every chat request; a CLI lists `available_parsers()`
for `--tool-parser`. Parsers implement the engine's `TextParser` (`feed`/`finish` -> events).
"""

from ..core.types import ToolCall
from .base import ToolParser, fold, new_call_id
from .plan import ToolPlan, plan_tools
from .registry import available_parsers, get_parser, select_parser


def parse(text: str, parser: str) -> tuple[str | None, list[ToolCall]]:
    """Whole-text parse: (content or None, calls). The same events streaming gives, folded."""
    p = get_parser(parser)()
    return fold(p.feed(text) + p.finish())


__all__ = [
    "ToolParser",
    "ToolPlan",
    "available_parsers",
    "fold",
    "get_parser",
    "new_call_id",
    "parse",
    "plan_tools",
    "select_parser",
]
