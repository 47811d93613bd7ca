"""Constraints after the reasoning, with llguidance itself on the embedded model's tokenizer (no model
is run): the reasoning is free text (braces, a near-miss of the close marker, deep nesting, long
repeats: none of the JSON guards touch it), the answer is held to the schema from the close marker on,
a thinking budget closes the reasoning after exactly N tokens (fast-forwarded, or one token at a time
when the step cannot fast-forward), a lazy tool grammar's trigger inside the reasoning does not fire,
and a close marker that is a special token is named by id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chuk_lazarus.backends.guidance import ConstraintCompiler, Guide
from chuk_lazarus.core.grammar import (
    Constraint,
    HarmonyMarkup,
    Marker,
    ReasoningGate,
    after_reasoning,
    schema_constraint,
)
from chuk_lazarus.core.types import LazyTrigger, ToolDefinition
from chuk_lazarus.tools.grammar import tool_call_constraint
from chuk_lazarus.tools.hermes import HermesParser

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False}
OPEN, CLOSE = Marker("<think>"), Marker("</think>")


@pytest.fixture(scope="module")
def model() -> Iterator[object]:
    from chuk_lazarus.backends.llama_cpp.model import LlamaModel
    from chuk_lazarus.models.embedded import shipped_gguf_path

    loaded = LlamaModel(shipped_gguf_path())
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def compiler(model: object) -> ConstraintCompiler:
    return ConstraintCompiler(model.lltokenizer(), model.n_vocab)  # type: ignore[attr-defined]


def tokens_of(model: object, text: str) -> list[int]:
    return list(model.tokenize(text, add_special=False))  # type: ignore[attr-defined]


def guide_for(compiler: ConstraintCompiler, model: object, constraint: Constraint) -> Guide:
    compiler.check(constraint)
    return compiler.guide(constraint, lambda t: model.piece(t, special=True))  # type: ignore[attr-defined]


def gate(model: object, *, opened: bool = True, budget: int | None = None, close: Marker = CLOSE) -> ReasoningGate:
    return ReasoningGate(OPEN, close, opened, budget, tuple(tokens_of(model, close.text)))


def write(model: object, guide: Guide, wanted: str, *, fast_forward: bool = True) -> list[int]:
    """The model wants to write `wanted`; return the tokens the constrained output gets. A wanted token
    the constraint rejects ends the run; forced tokens the model wanted too are skipped in `wanted`.
    Without fast-forward, forced tokens are picked one by one from the mask (the only token allowed)."""
    out: list[int] = []
    rest = wanted.encode()
    while rest:
        if not fast_forward and guide.closing:
            allowed = guide.allowed()
            assert allowed.sum() == 1
            picked = int(allowed.argmax())
            guide.accept(picked)
            out.append(picked)
            continue
        token = tokens_of(model, rest.decode())[0]
        if guide.active and not guide.allows(token):
            break
        guide.accept(token)
        out.append(token)
        rest = rest[len(model.piece(token, special=True)) :]  # type: ignore[attr-defined]
        forced = guide.forced() if fast_forward else []
        out += forced
        written = b"".join(model.piece(t, special=True) for t in forced)  # type: ignore[attr-defined]
        if forced and rest.startswith(written):
            rest = rest[len(written) :]
    return out


def text(model: object, tokens: list[int]) -> str:
    return b"".join(model.piece(t, special=True) for t in tokens).decode()  # type: ignore[attr-defined]


FREE = 'Braces {"a": "x"} and [[[[[[[[[[ nesting, a </thing>, ' + "ha" * 20 + " and digits " + "1" * 40 + "."


def test_reasoning_is_free_and_the_answer_is_held_to_the_schema(compiler: ConstraintCompiler, model: object) -> None:
    guide = guide_for(compiler, model, after_reasoning(schema_constraint(SCHEMA, param="x"), gate(model)))
    output = text(model, write(model, guide, (FREE + "\n</think>\n\n" + '{"a":42}')))
    assert output == FREE + "\n</think>\n\n" + '{"a":42}'
    assert guide.matcher is not None and guide.matcher.is_accepting()
    # The answer is the schema's: once the reasoning closed, free text is refused.
    refused = guide_for(compiler, model, after_reasoning(schema_constraint(SCHEMA, param="x"), gate(model)))
    written = text(model, write(model, refused, ("Hmm.</think>Sure, here it is")))
    assert written == "Hmm.</think>"
    assert not refused.allows(tokens_of(model, "Sure")[0])


def test_a_model_that_may_open_its_reasoning_or_answer_at_once(compiler: ConstraintCompiler, model: object) -> None:
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), gate(model, opened=False))
    direct = guide_for(compiler, model, constraint)
    assert text(model, write(model, direct, ('{"a":1}'))) == '{"a":1}'
    thinking = guide_for(compiler, model, constraint)
    wanted = "<think>\nok {\n</think>\n" + '{"a":2}'
    assert text(model, write(model, thinking, (wanted))) == wanted


@pytest.mark.parametrize("fast_forward", [True, False])
def test_a_budget_closes_the_reasoning_after_n_tokens(
    compiler: ConstraintCompiler, model: object, fast_forward: bool
) -> None:
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), gate(model, budget=5))
    guide = guide_for(compiler, model, constraint)
    rambling = "I will keep thinking about this for a very long time, on and on"
    out = write(model, guide, rambling, fast_forward=fast_forward)
    assert out[:5] == tokens_of(model, rambling)[:5]
    assert text(model, out[5:]) == "</think>"  # then the schema refuses the rest of the rambling
    close = tokens_of(model, "</think>")
    assert guide.gate is not None and guide.gate.done and guide.gate.tokens == 5 + len(close)
    assert text(model, write(model, guide, '{"a":7}')) == '{"a":7}'


def test_a_budget_alone_leaves_the_answer_free(compiler: ConstraintCompiler, model: object) -> None:
    guide = guide_for(compiler, model, after_reasoning(None, gate(model, budget=3)))
    out = write(model, guide, "one two three four five")
    assert text(model, out) == "one two three</think> four five"  # the model goes on, unconstrained
    assert not guide.enabled  # past the close nothing constrains the output
    assert text(model, write(model, guide, ("Anything at all {"))) == "Anything at all {"


def test_a_lazy_tool_grammar_does_not_fire_inside_the_reasoning(compiler: ConstraintCompiler, model: object) -> None:
    tool = ToolDefinition("get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})
    lazy = tool_call_constraint((tool,), HermesParser, max_calls=None, indices=(0,), triggers=HermesParser.lazy_triggers)
    guide = guide_for(compiler, model, after_reasoning(lazy, gate(model)))
    musing = "Maybe <tool_call> nonsense here </tool_call>, no."
    assert text(model, write(model, guide, (musing + "</think>\n"))) == musing + "</think>\n"
    assert guide.watch is not None  # still waiting for its trigger
    call = '<tool_call>\n{"name":"get_weather","arguments":{"city":"Oslo"}}\n</tool_call>'
    written = text(model, write(model, guide, (call)))
    assert written.startswith("<tool_call>") and guide.watch is None  # the trigger fired after the reasoning
    assert json.loads(written.split("\n")[1])["arguments"] == {"city": "Oslo"}
    nonsense = guide_for(compiler, model, after_reasoning(lazy, gate(model)))
    bad = text(model, write(model, nonsense, ("</think><tool_call> not json")))
    assert not bad.endswith("not json")  # held to the grammar there


def test_a_close_marker_that_is_a_special_token_is_named_by_id(compiler: ConstraintCompiler, model: object) -> None:
    # SmolLM2 has no think tokens: its `<|im_start|>` (a control token, special to llguidance) stands in.
    special = Marker("<|im_start|>", compiler.special_token(tokens_of(model, "<|im_start|>")))
    assert special.token is not None and compiler.special_token(tokens_of(model, "</think>")) is None
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), gate(model, budget=4, close=special))
    assert f"<[{special.token}]>" in constraint.grammar
    guide = guide_for(compiler, model, constraint)
    out = write(model, guide, "free text that goes on and on")
    assert out[4:] == [special.token]  # (then the schema refuses the rest)
    assert text(model, write(model, guide, ('{"a":3}'))) == '{"a":3}'


def test_real_tool_grammars_compile_after_the_reasoning(compiler: ConstraintCompiler, model: object) -> None:
    tools = (ToolDefinition("f", parameters={"type": "object", "properties": {"x": {"type": "integer"}}}),)
    forced = tool_call_constraint(tools, HermesParser, max_calls=1, indices=(0,))
    for opened in (True, False):
        constraint = after_reasoning(forced, gate(model, opened=opened, budget=16))
        compiler.check(constraint)
        assert constraint.gate is not None and constraint.gate.in_grammar
    gbnf = Constraint('root ::= "yes" | "no"', syntax="gbnf")
    waiting = after_reasoning(gbnf, gate(model))
    assert waiting.grammar == gbnf.grammar and waiting.gate is not None and not waiting.gate.in_grammar
    guide = guide_for(compiler, model, waiting)
    assert text(model, write(model, guide, ("Whatever I like</think>yes"))) == "Whatever I like</think>yes"


def test_a_stray_trigger_of_laziness_is_literal_text(compiler: ConstraintCompiler, model: object) -> None:
    lazy = Constraint('start: "e" /[a-z]{0,3}/', triggers=(LazyTrigger("e"),))
    guide = guide_for(compiler, model, after_reasoning(lazy, gate(model)))
    assert text(model, write(model, guide, ("every eel</think>"))) == "every eel</think>"


# gpt-oss harmony: the reasoning is an analysis message, the answer a final one. SmolLM2 has no harmony
# tokens, so its markup is text here (the e2e test serves it so); one test stands `<|im_end|>` in for a
# special `<|end|>`.
H_OPEN = Marker("<|channel|>analysis<|message|>")
H_CLOSING = "<|end|><|start|>assistant<|channel|>final<|message|>"


def harmony_gate(model: object, compiler: ConstraintCompiler, *, budget: int | None = None, end: str = "<|end|>") -> ReasoningGate:
    end_marker = Marker(end, compiler.special_token(tokens_of(model, end)))
    markup = HarmonyMarkup(Marker("<|start|>"), Marker("<|channel|>"), Marker("<|message|>"), end_marker, Marker("<|constrain|>"))
    closing = tokens_of(model, H_CLOSING.replace("<|end|>", end))
    return ReasoningGate(H_OPEN, end_marker, False, budget, tuple(closing), harmony=markup)


def test_harmony_reasoning_is_an_analysis_message_and_the_answer_a_final_one(
    compiler: ConstraintCompiler, model: object
) -> None:
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), harmony_gate(model, compiler))
    wanted = "<|channel|>analysis<|message|>" + FREE + H_CLOSING + '{"a":5}'
    guide = guide_for(compiler, model, constraint)
    assert text(model, write(model, guide, wanted)) == wanted
    assert guide.matcher is not None and guide.matcher.is_accepting()
    direct = guide_for(compiler, model, constraint)  # no analysis: the final message at once
    wanted = '<|channel|>final <|constrain|>json<|message|>{"a":6}'
    assert text(model, write(model, direct, wanted)) == wanted
    # The JSON is the final message's, not the analysis's: an answer without its header is refused.
    bare = guide_for(compiler, model, constraint)
    assert text(model, write(model, bare, '{"a":7}')) == ""
    after_end = guide_for(compiler, model, constraint)
    written = text(model, write(model, after_end, '<|channel|>analysis<|message|>ok<|end|>{"a":8}'))
    # After the analysis's end the next header is forced, and the answer is refused until it is out.
    assert written == "<|channel|>analysis<|message|>ok<|end|><|start|>assistant<|channel|>final"


@pytest.mark.parametrize("fast_forward", [True, False])
def test_a_harmony_budget_writes_the_end_and_the_final_header(
    compiler: ConstraintCompiler, model: object, fast_forward: bool
) -> None:
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), harmony_gate(model, compiler, budget=4))
    guide = guide_for(compiler, model, constraint)
    header = "<|channel|>analysis<|message|>"
    out = write(model, guide, header + "I will keep thinking about this for a very long time", fast_forward=fast_forward)
    written = text(model, out)
    assert written.startswith(header) and written.endswith(H_CLOSING)
    reasoning = written[len(header) : -len(H_CLOSING)]
    assert reasoning == text(model, tokens_of(model, reasoning)) and len(tokens_of(model, reasoning)) == 4
    assert guide.gate is not None and guide.gate.done
    assert not guide.closing
    assert text(model, write(model, guide, '{"a":9}')) == '{"a":9}'
    free = guide_for(compiler, model, after_reasoning(None, harmony_gate(model, compiler, budget=2)))
    out = write(model, free, header + "one two three four", fast_forward=fast_forward)
    # The whole header is written even where nothing holds the answer, which then goes on freely.
    assert text(model, out) == header + "one two" + H_CLOSING + " three four"
    assert not free.closing and not free.enabled


def test_a_special_harmony_end_is_named_by_id(compiler: ConstraintCompiler, model: object) -> None:
    gate = harmony_gate(model, compiler, budget=3, end="<|im_end|>")
    assert gate.close.token is not None
    constraint = after_reasoning(schema_constraint(SCHEMA, param="x"), gate)
    assert f"<[{gate.close.token}]>" in constraint.grammar
    guide = guide_for(compiler, model, constraint)
    out = write(model, guide, "<|channel|>analysis<|message|>free text that goes on and on")
    assert gate.close.token in out and text(model, out).endswith("<|start|>assistant<|channel|>final<|message|>")
    assert text(model, write(model, guide, '{"a":1}')) == '{"a":1}'
