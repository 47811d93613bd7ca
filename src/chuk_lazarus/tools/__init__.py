"""Tool calling: output-format parsers (one module each), call grammars, validation; and the
reasoning formats (`reasoning.py`), split off a model's output before its tool calls are read.

Protocol- and engine-neutral: imports only `core`. The engine plans with them (`engine/tool_plan.py`)
and reads the model's output through their incremental `feed`/`finish` (the engine's `TextParser`);
the CLI lists `available_parsers()` for `--tool-parser`.
"""

from ..core.ids import new_call_id
from ..core.types import ToolCall
from .base import ToolParser, fold
from .reasoning import ReasoningSplitter, detect_reasoning_format, split_reasoning
from .registry import available_parsers, get_parser, select_parser


def parse(text: str, parser: str) -> tuple[str | None, list[ToolCall]]:
    """Whole-text parse: (content or None, calls). The same events streaming gives, folded."""
    p = get_parser(parser)()
    return fold(p.feed(text) + p.finish())


__all__ = [
    "ReasoningSplitter",
    "ToolParser",
    "available_parsers",
    "detect_reasoning_format",
    "fold",
    "get_parser",
    "new_call_id",
    "parse",
    "select_parser",
    "split_reasoning",
]
