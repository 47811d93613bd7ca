"""The engine's side of reasoning, on a scripted backend: which variables the template gets, where the
output starts (inside an opened `<think>`), reasoning turned off in the prompt, the constraint gated
after the reasoning, and the events: reasoning split off, its tokens counted."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chuk_lazarus.core.grammar import Constraint
from chuk_lazarus.core.types import (
    ChatMessage,
    GenerationRequest,
    ReasoningControl,
    ResponseFormat,
    ToolDefinition,
)
from chuk_lazarus.engine import ModelEngine
from tests.engine.test_generation import ScriptedBackend

# A Qwen 3 style generation prompt: thinking is opened by the template unless turned off.
OPENS = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}"
)
# DeepSeek-R1 style: always opens the reasoning, and cannot be told not to.
ALWAYS_OPENS = (
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: <think>\n{% endif %}"
)
# A template that shows earlier reasoning but never opens it (the model writes `<think>` itself).
SHOWS = (
    "{% for m in messages %}{{ m.role }}: {% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>"
    "{% endif %}{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
)
QWEN3 = (Path(__file__).resolve().parents[1] / "fixtures" / "templates" / "qwen3.jinja").read_text()
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


class GatedBackend(ScriptedBackend):
    """Takes any constraint (there is no grammar library behind it) and records them."""

    def __init__(self, template: str, reply: bytes = b"ok") -> None:
        super().__init__(reply)
        self.info = dataclasses.replace(self.info, chat_template=template, context_length=4096)
        self.constraints: list[Constraint] = []

    def check_constraint(self, constraint: Constraint) -> None:
        self.constraints.append(constraint)


def engine_for(template: str, reply: bytes = b"ok", **kwargs: object) -> ModelEngine:
    return ModelEngine(GatedBackend(template, reply), **kwargs)  # type: ignore[arg-type]


def chat(*, messages: tuple[ChatMessage, ...] = (ChatMessage("user", "Hi"),), **kw: object) -> GenerationRequest:
    return GenerationRequest(messages=messages, max_tokens=64, **kw)  # type: ignore[arg-type]


async def test_the_format_comes_from_the_template_or_the_flag() -> None:
    assert engine_for(OPENS).reasoning_format == "think_tags"
    assert engine_for("{{ messages }}").reasoning_format == "none"
    assert engine_for(OPENS, reasoning_parser="none").reasoning_format == "none"
    assert engine_for("{{ messages }}", reasoning_parser="mistral").reasoning_format == "mistral"


async def test_an_opened_prompt_starts_the_output_inside_the_reasoning() -> None:
    engine = engine_for(OPENS, b"Hmm, a greeting.\n</think>\n\nHello!")
    plan = await engine.plan(chat())
    assert plan.text.endswith("<|im_start|>assistant\n<think>\n")
    assert plan.reasoning is not None and plan.reasoning.opened and plan.constraint is None
    result = await engine.agenerate(chat())
    assert (result.reasoning, result.text) == ("Hmm, a greeting.", "Hello!")
    assert result.finish.usage.reasoning_tokens == len(b"Hmm, a greeting.\n</think>")


@pytest.mark.parametrize(
    ("control", "kwargs", "expected"),
    [
        (ReasoningControl(), {}, {}),
        (ReasoningControl(enabled=False), {}, {"enable_thinking": False}),
        (ReasoningControl(enabled=True, effort="high"), {}, {"enable_thinking": True, "reasoning_effort": "high"}),
        (ReasoningControl(budget_tokens=0), {}, {"enable_thinking": False}),
        (ReasoningControl(enabled=True), {"enable_thinking": False, "x": 1}, {"enable_thinking": False, "x": 1}),
    ],
)
async def test_controls_become_template_variables(
    control: ReasoningControl, kwargs: dict[str, object], expected: dict[str, object]
) -> None:
    plan = await engine_for(OPENS).plan(chat(reasoning=control, template_kwargs=kwargs))
    assert plan.reasoning is not None and plan.reasoning.template_kwargs == expected


async def test_reasoning_off_closes_it_in_the_prompt_and_drops_what_the_model_still_writes() -> None:
    told = await engine_for(OPENS).plan(chat(reasoning=ReasoningControl(enabled=False)))
    assert told.text.endswith("<think>\n\n</think>\n\n") and not told.reasoning.opened  # type: ignore[union-attr]
    untold = await engine_for(ALWAYS_OPENS).plan(chat(reasoning=ReasoningControl(enabled=False)))
    assert untold.text.endswith("assistant: <think>\n</think>\n\n")
    assert untold.tokens == list(untold.text.encode())  # the closing went into the tokens too
    never_opened = await engine_for(SHOWS).plan(chat(reasoning=ReasoningControl(enabled=False)))
    assert never_opened.text.endswith("assistant: <think>\n\n</think>\n\n")
    engine = engine_for(ALWAYS_OPENS, b"<think>sneaky</think>Hello!")
    result = await engine.agenerate(chat(reasoning=ReasoningControl(enabled=False)))
    assert (result.reasoning, result.text) == ("", "Hello!")


async def test_a_model_that_cannot_reason_ignores_the_controls() -> None:
    engine = engine_for("{% for m in messages %}{{ m.content }}{% endfor %}{{ enable_thinking }}", b"<think>x</think>")
    plan = await engine.plan(chat(reasoning=ReasoningControl(enabled=True, budget_tokens=5)))
    assert plan.text == "Hi" and plan.constraint is None  # (`enable_thinking` not passed: undefined)
    kept = await engine.plan(chat(template_kwargs={"enable_thinking": "yes"}))
    assert kept.text == "Hiyes"  # a request's template kwargs still reach the template
    result = await engine.agenerate(chat())
    assert (result.reasoning, result.text) == ("", "<think>x</think>")


async def test_granite_style_templates_get_thinking_too() -> None:
    template = "{{ messages[0].content }}{% if thinking %} (thinking){% endif %}<think>"
    plan = await engine_for(template).plan(chat(reasoning=ReasoningControl(enabled=True)))
    assert plan.text == "Hi (thinking)<think>"


async def test_earlier_reasoning_reaches_the_template() -> None:
    messages = (
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello.", reasoning="Be polite."),
        ChatMessage("user", "Bye"),
    )
    plan = await engine_for(SHOWS).plan(chat(messages=messages))
    assert "assistant: <think>Be polite.</think>Hello.\n" in plan.text


async def test_a_schema_applies_after_the_reasoning() -> None:
    engine = engine_for(OPENS)
    plan = await engine.plan(chat(response_format=ResponseFormat("json_schema", SCHEMA)))
    constraint = plan.constraint
    assert constraint is not None and constraint.gate is not None
    assert constraint.gate.opened and constraint.gate.in_grammar and constraint.gate.budget is None
    assert constraint.grammar.startswith("start: lzreason lzsep lzanswer\n")
    assert 'lzreason[suffix="</think>"]' in constraint.grammar and "lzanswer: %json" in constraint.grammar
    assert constraint.schemas[0].param == "response_format.json_schema.schema"
    off = await engine.plan(chat(response_format=ResponseFormat("json_schema", SCHEMA), reasoning=ReasoningControl(enabled=False)))
    assert off.constraint is not None and off.constraint.gate is None  # nothing to wait for


async def test_a_budget_alone_is_a_gate_with_a_free_answer() -> None:
    engine = engine_for(OPENS, reasoning_budget=32)
    constraint = (await engine.plan(chat())).constraint
    assert constraint is not None and constraint.gate is not None
    assert (constraint.gate.budget, constraint.gate.free_answer) == (32, True)
    assert constraint.gate.close_tokens == tuple(b"\n</think>\n\n")  # the close in its markup spacing
    request = (await engine.plan(chat(reasoning=ReasoningControl(budget_tokens=8)))).constraint
    assert request is not None and request.gate is not None and request.gate.budget == 8  # the request's wins
    assert (await engine.plan(chat(reasoning=ReasoningControl(budget_tokens=0)))).constraint is None


async def test_a_lazy_tool_grammar_waits_for_the_close_marker() -> None:
    tool = ToolDefinition("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    engine = engine_for(QWEN3)
    assert engine.reasoning_format == "think_tags"
    constraint = (await engine.plan(chat(tools=(tool,)))).constraint
    assert constraint is not None and constraint.triggers and constraint.gate is not None
    assert not constraint.gate.in_grammar and not constraint.gate.opened  # Qwen 3 lets the model open it
    assert constraint.grammar.startswith("start:")  # the tool grammar as it was


GPT_OSS = (Path(__file__).resolve().parents[1] / "fixtures" / "templates" / "gpt_oss.jinja").read_text()


async def test_gpt_oss_holds_the_final_message_to_the_schema() -> None:
    engine = engine_for(GPT_OSS, reasoning_budget=16)
    assert engine.reasoning_format == "harmony"
    plan = await engine.plan(chat(response_format=ResponseFormat("json_schema", SCHEMA)))
    assert plan.text.endswith("<|start|>assistant")  # the prompt opens no analysis
    constraint = plan.constraint
    assert constraint is not None and constraint.gate is not None and constraint.gate.harmony is not None
    assert constraint.gate.in_grammar and not constraint.gate.opened and constraint.gate.budget == 16
    assert constraint.grammar.startswith('start: "<|channel|>" "analysis" "<|message|>" lzreason')
    assert 'lzfinal: "<|channel|>" "final"' in constraint.grammar and "lzanswer: %json" in constraint.grammar
    # A spent budget ends the analysis and opens the final message (the scripted vocabulary is bytes).
    assert constraint.gate.close_tokens == tuple(b"<|end|><|start|>assistant<|channel|>final<|message|>")
    # Told to reason little, gpt-oss still writes its channels: the answer waits for the final one.
    low = await engine.plan(chat(response_format=ResponseFormat("json_schema", SCHEMA), reasoning=ReasoningControl(enabled=False)))
    assert low.constraint is not None and low.constraint.gate is not None and low.constraint.gate.harmony is not None
    assert not low.text.rstrip().endswith("<|end|>")  # no empty analysis was written into the prompt
