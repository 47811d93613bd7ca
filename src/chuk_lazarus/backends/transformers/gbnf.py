"""GBNF as llguidance can compile it: bounded repetitions written as `{0,n}`, not nested optionals.

llama-cpp-python's JSON-schema converter writes `maxLength: 40` as forty nested optional groups,
`(char (char (char …)?)?)?`, and `maxItems` the same way. llama.cpp's own parser takes that, but
llguidance turns a JSON string into one lexer token whose regex must not nest that deep: past about
25 levels a schema as plain as `{"name": {"type": "string", "maxLength": 30}}` fails to compile
("lark grammar too deeply nested"). `(C (C (C)?)?)?` is exactly `(C){0,3}`, which GBNF also has, so
the nesting is folded into that before the grammar goes to llguidance; the language is unchanged.
"""

from __future__ import annotations

import re

# One element of a sequence: a rule name, a "string literal" or a [character class].
_ITEM = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\])'
_SEQ = rf"{_ITEM}(?: {_ITEM})*"
# `(C (C)?)?` or `(C (C){0,k})?`, with both Cs the same sequence.
_NESTED = re.compile(rf"\(({_SEQ}) \(\1\)(?:\?|\{{0,(\d+)\}})\)\?")


def _fold(match: re.Match[str]) -> str:
    inner = int(match.group(2)) if match.group(2) else 1
    return f"({match.group(1)}){{0,{inner + 1}}}"


def flatten_repetitions(gbnf: str) -> str:
    """Rewrite every run of nested optional repeats of one sequence as a `{0,n}` repetition."""
    while True:
        folded = _NESTED.sub(_fold, gbnf)
        if folded == gbnf:
            return gbnf
        gbnf = folded
