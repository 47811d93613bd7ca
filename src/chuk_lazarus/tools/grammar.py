"""Grammars that make a tool call valid by construction.

Each function's parameter schema goes through the backend's schema-to-GBNF converter separately (so
its `$ref`s resolve against its own document); its rules are renamed under a per-tool prefix and
wrapped in a call object whose `name` is that function's. Our own rules are named `lz…` / `root`,
which no converter rule can be once prefixed with `t<n>-`. The format module supplies `root`, the
markup around the calls.
"""

from __future__ import annotations

import json
import re

from ..core.grammar import SchemaGrammar, gbnf_literal
from ..core.types import ToolDefinition
from .base import ToolParser

# Between the markup tokens: a little whitespace, bounded so a weak model cannot loop on it forever.
_WS_RULE = r"lz-ws ::= [ \t\n]{0,4}"
_GBNF_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|\{[^}]*\}|#[^\n]*|[A-Za-z0-9_-]+')
_RULE_NAME = re.compile(r"^([A-Za-z0-9_-]+)\s*::=", re.MULTILINE)


def prefix_rules(gbnf: str, prefix: str) -> str:
    """Rename every rule defined in `gbnf` to `prefix + name`, leaving literals and classes alone."""
    names = set(_RULE_NAME.findall(gbnf))

    def rename(match: re.Match[str]) -> str:
        token = match.group(0)
        return prefix + token if token in names else token

    return _GBNF_TOKEN.sub(rename, gbnf)


def tool_call_grammar(
    tools: tuple[ToolDefinition, ...],
    fmt: type[ToolParser],
    schema_grammar: SchemaGrammar,
    *,
    max_calls: int | None,
    indices: tuple[int, ...],
    answer: bool = False,
) -> str:
    """GBNF whose `root` is one to `max_calls` calls (None: any number) to `tools` in `fmt`'s markup, or
    with `answer`, either those calls or a plain answer. `indices` are the tools' positions in the
    request, for error `param`s. `schema_grammar` converts each tool's parameter schema."""
    root = fmt.grammar_root(max_calls)
    if root is None:
        raise ValueError(f"the {fmt.name} format has no call grammar")
    rules = [root, _WS_RULE]
    if answer:
        # The model chooses: calls, or an answer in the format's own wrapping (see generic.py).
        answer_rules = fmt.answer_grammar()
        if answer_rules is None:
            raise ValueError(f"the {fmt.name} format has no answer grammar")
        rules = [
            root.replace("root ::=", "lzcalls ::=", 1),
            "root ::= lzcalls | lzanswer",
            answer_rules,
            _WS_RULE,
        ]
    alternatives = []
    for n, (tool, index) in enumerate(zip(tools, indices)):
        params = schema_grammar(tool.parameters, param=f"tools[{index}].function.parameters")
        prefix = f"t{n}-"
        # The converter lets the model write one optional space between JSON tokens, as it mostly saw
        # JSON written; the parsers drop it, so arguments still come out compact (`{"a":1}`).
        rules.append(prefix_rules(params, prefix))
        rules.append(
            f'lzcall-{n} ::= "{{" lz-ws "\\"name\\"" lz-ws ":" lz-ws {gbnf_literal(json.dumps(tool.name))} '
            f'lz-ws "," lz-ws "\\"{fmt.args_key}\\"" lz-ws ":" lz-ws {prefix}root lz-ws "}}"'
        )
        alternatives.append(f"lzcall-{n}")
    rules.append("lzcall ::= " + " | ".join(alternatives))
    return "\n".join(rules) + "\n"
