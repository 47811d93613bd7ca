"""The neutral output constraint every backend compiles: a grammar in llguidance's lark dialect.

JSON schemas are embedded in the grammar as `%json{...}` (llguidance compiles JSON Schema itself, so
every keyword it implements is enforced and every one it does not is an error, never ignored); the
markup around tool calls is lark rules. A user's own GBNF grammar travels as GBNF. Writing the text
needs no grammar library: the planner (engine/) and the tool formats (tools/) build constraints, and
each backend compiles them (backends/guidance.py) — and reports the compile errors as 400s.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from .schema import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_ONE
from .types import LazyTrigger

# How generated JSON is written: compact (no whitespace between tokens, so a weak model cannot pad
# forever and the keys the schema fixes are forced), and strict about keywords (`lenient: false`: an
# unimplemented keyword is a compile error). Overrides whatever "x-guidance" a request sends.
JSON_OPTIONS: dict[str, Any] = {"whitespace_flexible": False, "lenient": False}


@dataclass(frozen=True)
class EmbeddedSchema:
    """A JSON schema inside a constraint's grammar, with the request field it came from (for errors)."""

    param: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Marker:
    """A reasoning marker (`<think>`, `</think>`): its text, and the one special token that writes it
    when there is one. A grammar must name such a token (`<[id]>`): llguidance never lets a special
    token match text in a terminal."""

    text: str
    token: int | None = None

    def term(self) -> str:
        return f"<[{self.token}]>" if self.token is not None else lark_literal(self.text)


@dataclass(frozen=True)
class HarmonyMarkup:
    """gpt-oss's message markup, each part as this model writes it (its special token where it is
    one): `<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final<|message|>…`."""

    start: Marker
    channel: Marker
    message: Marker
    end: Marker
    constrain: Marker


@dataclass(frozen=True)
class ReasoningGate:
    """The reasoning a constraint must leave free: the constraint applies from its close marker on.

    `opened`: the prompt opened the reasoning (the output starts inside it); otherwise the output may
    open it with `open`, after a little whitespace, or answer at once. `budget`: after that many tokens
    inside the reasoning, the backend writes `close_tokens` (the close marker) itself. `in_grammar`: the
    grammar text starts with the reasoning (`after_reasoning`), so the token that closes it cannot run
    on into the answer; otherwise (a lazy tool grammar, a GBNF grammar) the constraint waits for the
    close marker before it starts. `free_answer`: nothing constrains the answer (only a budget was
    asked for): past the close the output is free. `harmony`: the model writes gpt-oss messages, so
    the reasoning is an analysis message (`open` its header, `close` its end) and the answer a final
    one, whose header the grammar writes before the answer's own rules."""

    open: Marker
    close: Marker
    opened: bool
    budget: int | None = None
    close_tokens: tuple[int, ...] = ()
    in_grammar: bool = False
    free_answer: bool = False
    harmony: HarmonyMarkup | None = None


@dataclass(frozen=True)
class Constraint:
    """What the output must match. `syntax` "lark": llguidance's lark (`start` is the root); "gbnf": a
    user's llama.cpp grammar (`root`). `schemas`: the JSON schemas embedded in `grammar`, so a compile
    error can name the field and keyword. `triggers` non-empty: the constraint is lazy, starting at the
    first one (see backends/triggers.py)."""

    grammar: str
    syntax: Literal["lark", "gbnf"] = "lark"
    schemas: tuple[EmbeddedSchema, ...] = ()
    triggers: tuple[LazyTrigger, ...] = ()
    param: str = "response_format"  # the field a compile error not about one schema is reported on
    gate: ReasoningGate | None = None  # the constraint starts after the model's reasoning (see above)


def json_embed(schema: dict[str, Any]) -> str:
    """`schema` as a lark `%json{...}` term, with our JSON options in force."""
    options = dict(schema.get("x-guidance") or {}) if isinstance(schema.get("x-guidance"), dict) else {}
    closed = close_objects(schema)
    return "%json" + json.dumps({**closed, "x-guidance": {**options, **JSON_OPTIONS}}, ensure_ascii=False)


_OPEN_KEYS = (
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "$ref",
)


def close_objects(node: Any, *, in_all_of: bool = False) -> Any:
    """`node` with `additionalProperties: false` on every object that lists `properties` and says
    nothing about other keys — as llama.cpp's and xgrammar's converters do. Only instances the schema
    allows are produced (a subset), and a small model no longer invents keys until max_tokens. Objects
    combined with others (an `allOf` branch, or one with `allOf`/`anyOf`/`$ref` of its own) stay as
    written: closing one part of an intersection would forbid the other part's keys."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: close_objects(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS + ("items",) and isinstance(value, list):
            out[key] = [close_objects(sub, in_all_of=key == "allOf") for sub in value]
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = close_objects(value)
        else:
            out[key] = value
    if isinstance(out.get("properties"), dict) and not in_all_of and not any(k in out for k in _OPEN_KEYS):
        out["additionalProperties"] = False
    return out


def lark_literal(text: str) -> str:
    """`text` as a lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def schema_constraint(schema: dict[str, Any], *, param: str) -> Constraint:
    """Exactly JSON valid against `schema`."""
    return Constraint(f"start: {json_embed(schema)}\n", schemas=(EmbeddedSchema(param, schema),), param=param)


# The reasoning, up to its close marker: any text, lazily (it ends at the first close marker). Special
# tokens cannot be text, so a close marker that is one is a token after greedy text instead.
_REASONING_TEXT = "/(.|\\n)*/"
_SPACING = "/[ \\t\\n]{0,4}/"  # markup spacing around the reasoning (`<think>\n…\n</think>\n\n`)
_START_RULE = re.compile(r"^start:", re.MULTILINE)


def after_reasoning(answer: Constraint | None, gate: ReasoningGate) -> Constraint:
    """A constraint that leaves the reasoning free and holds the answer to `answer` (None: any text).

    A lark grammar gets the reasoning as its first rule (llguidance's own recipe for reasoning models),
    so one matcher runs from the first token and the answer's rules start exactly at the close marker.
    A lazy constraint (tool calls under `auto`) or a GBNF grammar keeps its text and waits for the close
    (`ReasoningGate.in_grammar` False): its trigger must not fire inside the reasoning. llguidance's own
    `max_tokens=` on the reasoning rule is not used for the budget: when it runs out, the rule ends
    without its `suffix`, so the close marker would never be written (checked against llguidance 1.9);
    the backend forces the close itself (backends/reasoning_gate.py)."""
    if answer is not None and (answer.triggers or answer.syntax != "lark"):
        return replace(answer, gate=replace(gate, in_grammar=False, free_answer=False))
    schemas: tuple[EmbeddedSchema, ...] = ()
    param = "response_format"
    if answer is None:
        body = "lzanswer: /(.|\\n)*/\n"
    else:
        body, count = _START_RULE.subn("lzanswer:", answer.grammar, count=1)
        if count != 1:
            raise ValueError("a lark constraint must have a `start` rule")
        schemas, param = answer.schemas, answer.param
    if gate.close.token is not None:
        reasoning = f"lzreason: LZREASON {gate.close.term()}\nLZREASON: {_REASONING_TEXT}"
    else:
        reasoning = f"lzreason[suffix={lark_literal(gate.close.text)}]: {_REASONING_TEXT}"
    if gate.harmony is not None:
        start = _harmony_start(gate.harmony)
    elif gate.opened:
        start = "start: lzreason lzsep lzanswer"
    else:
        start = f"start: lzsep {gate.open.term()} lzreason lzsep lzanswer | lzanswer"
    grammar = f"{start}\n{reasoning}\nlzsep: {_SPACING}\n{body}"
    gate = replace(gate, in_grammar=True, free_answer=answer is None)
    return Constraint(grammar, schemas=schemas, param=param, gate=gate)


def _harmony_start(markup: HarmonyMarkup) -> str:
    """gpt-oss: an analysis message (the reasoning), then the final message holding the answer, or the
    final message at once. The generation prompt wrote the first `<|start|>assistant`; a final message
    may say what it is constrained to (` <|constrain|>json`, as harmony's structured outputs do)."""
    channel, message = markup.channel.term(), markup.message.term()
    return (
        f'start: {channel} "analysis" {message} lzreason {markup.start.term()} "assistant" lzfinal lzanswer'
        " | lzfinal lzanswer\n"
        f'lzfinal: {channel} "final" lzconstrain? {message}\n'
        f'lzconstrain: " " {markup.constrain.term()} /[a-z]+/'
    )
