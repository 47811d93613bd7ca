"""Constraints that make a tool call valid by construction, in llguidance's lark dialect.

Each function's parameter schema is embedded whole as `%json{...}`, so llguidance enforces every keyword
of it (and refuses, as a 400 naming the tool, the ones it cannot); a call object around it fixes the
function's name. The format module supplies `start`, the markup around the calls, in terms of `lzcall`
(one call object) and `lz_ws` (a little whitespace). Call objects are written compact — the parsers
read any JSON, and with no whitespace to choose, everything up to the arguments' first value is
forced (fast-forwarded) when one function is offered.
"""

from __future__ import annotations

import json

from ..core.grammar import Constraint, EmbeddedSchema, json_embed, lark_literal
from ..core.types import LazyTrigger, ToolDefinition
from .base import ToolParser

# Between the markup tokens: a little whitespace, bounded so a weak model cannot loop on it forever.
WS_RULE = r"lz_ws: /[ \t\n]{0,4}/"


def tool_call_constraint(
    tools: tuple[ToolDefinition, ...],
    fmt: type[ToolParser],
    *,
    max_calls: int | None,
    indices: tuple[int, ...],
    answer: bool = False,
    triggers: tuple[LazyTrigger, ...] = (),
) -> Constraint:
    """One to `max_calls` calls (None: any number) to `tools` in `fmt`'s markup, or with `answer`,
    either those calls or a plain answer. `indices` are the tools' positions in the request, for error
    `param`s. `triggers`: the constraint is lazy (starts at the first one)."""
    root = fmt.grammar_root(max_calls)
    if root is None:
        raise ValueError(f"the {fmt.name} format has no call grammar")
    rules = [root, WS_RULE]
    if answer:
        # The model chooses: calls, or an answer in the format's own wrapping (see generic.py).
        answer_rules = fmt.answer_grammar()
        if answer_rules is None:
            raise ValueError(f"the {fmt.name} format has no answer grammar")
        rules = [root.replace("start:", "lzcalls:", 1), "start: lzcalls | lzanswer", answer_rules, WS_RULE]
    alternatives = []
    schemas = []
    for n, (tool, index) in enumerate(zip(tools, indices)):
        head = '{"name":' + json.dumps(tool.name, ensure_ascii=False) + f',"{fmt.args_key}":'
        rules.append(f"lzcall_{n}: {lark_literal(head)} lzargs_{n} " + lark_literal("}"))
        rules.append(f"lzargs_{n}: {json_embed(tool.parameters)}")
        alternatives.append(f"lzcall_{n}")
        schemas.append(EmbeddedSchema(f"tools[{index}].function.parameters", tool.parameters))
    rules.append("lzcall: " + " | ".join(alternatives))
    return Constraint("\n".join(rules) + "\n", schemas=tuple(schemas), triggers=triggers, param="tools")
