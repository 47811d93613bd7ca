"""Tool injection, validation and grammar planning (no model needed)."""

from __future__ import annotations

import json

import pytest

from chuk_lazarus.core.errors import InvalidRequest
from chuk_lazarus.core.types import (
    ChatMessage,
    GenerationRequest,
    ResponseFormat,
    ToolCall,
    ToolChoice,
    ToolDefinition,
)
from chuk_lazarus.engine.output import PlainText
from chuk_lazarus.engine.templates import ChatTemplate
from chuk_lazarus.engine.tool_plan import ToolPlan
from chuk_lazarus.engine.tool_plan import plan_tools as plan_with
from chuk_lazarus.tools import get_parser

WEATHER = ToolDefinition(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)
TIME = ToolDefinition("get_current_time", "Get the current time", {"type": "object", "properties": {}, "required": []})
HERMES_TEMPLATE = (
    "{% if tools %}<tools>{{ tools | tojson }}</tools>{% endif %}{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{{ m.content }}{% for c in m.tool_calls or [] %}<tool_call>{{ c.function | tojson }}</tool_call>{% endfor %}"
    "<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
)
USER = (ChatMessage("user", "Weather in Paris?"),)


def plan_tools(request: GenerationRequest, template: ChatTemplate, tool_parser: str | None = None) -> ToolPlan:
    return plan_with(request, template, tool_parser)


def req(**kw: object) -> GenerationRequest:
    return GenerationRequest(**{"messages": USER, "tools": (WEATHER, TIME), **kw})  # type: ignore[arg-type]


def test_injection_when_template_has_no_tools() -> None:
    plan = plan_tools(req(), ChatTemplate(None))
    assert plan.template_tools is None
    system = plan.messages[0]
    assert system["role"] == "system" and "get_weather" in system["content"] and '"tool_calls"' in system["content"]
    assert plan.make_parser is get_parser("json")
    assert '"response"' in system["content"]  # auto: the model may answer instead, in JSON
    # … held to calls or that answer from the first token (llama.cpp's generic format), not lazily.
    assert plan.constraint is not None and "start: lzcalls | lzanswer" in plan.constraint.grammar
    assert plan.constraint.triggers == ()


def test_injection_appends_to_existing_system_prompt_and_renders_history() -> None:
    messages = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Time?"),
        ChatMessage("assistant", None, tool_calls=(ToolCall("call_1", "get_current_time", "{}"),)),
        ChatMessage("tool", "14:32 UTC", tool_call_id="call_1"),
        ChatMessage("user", "Thanks, and in Paris?"),
    )
    plan = plan_tools(req(messages=messages), ChatTemplate(None))
    roles = [m["role"] for m in plan.messages]
    assert roles == ["system", "user"]  # alternation kept (Gemma insists)
    assert plan.messages[0]["content"].startswith("Be brief.\n\n")
    # A call that has its result is not shown as the model's own turn (a small model that sees its call
    # calls again; bench/agent_loops.py): the user's turn says what was called and what came back.
    assert plan.messages[1]["content"] == (
        "Time?\n\nget_current_time({}) returned: 14:32 UTC\n\nThanks, and in Paris?"
    )


def test_a_call_still_waiting_for_its_result_is_shown_as_the_models_turn() -> None:
    messages = (
        ChatMessage("user", "Time?"),
        ChatMessage("assistant", None, tool_calls=(ToolCall("call_1", "get_current_time", "{}"),)),
        ChatMessage("user", "Never mind, what is 2+2?"),
    )
    plan = plan_tools(req(messages=messages), ChatTemplate(None))
    assert [m["role"] for m in plan.messages] == ["system", "user", "assistant", "user"]
    assert json.loads(plan.messages[2]["content"]) == {"tool_calls": [{"name": "get_current_time", "arguments": {}}]}


def test_native_template_gets_tools_and_its_own_format() -> None:
    template = ChatTemplate(HERMES_TEMPLATE)
    plan = plan_tools(req(), template)
    assert plan.template_tools and plan.template_tools[0]["function"]["name"] == "get_weather"
    assert plan.make_parser is get_parser("hermes")
    assert plan.constraint and plan.constraint.triggers == get_parser("hermes").lazy_triggers
    assert plan_tools(req(), template, tool_parser="mistral").make_parser is get_parser("mistral")


def test_required_and_named_function_are_strict_grammars() -> None:
    plan = plan_tools(req(tool_choice=ToolChoice("required")), ChatTemplate(None))
    assert plan.constraint and not plan.constraint.triggers
    grammar = plan.constraint.grammar
    assert '\\"name\\":\\"get_weather\\"' in grammar and '\\"name\\":\\"get_current_time\\"' in grammar
    assert [s.param for s in plan.constraint.schemas] == ["tools[0].function.parameters", "tools[1].function.parameters"]
    named = plan_tools(req(tool_choice=ToolChoice("function", "get_current_time")), ChatTemplate(None))
    assert named.constraint and "get_weather" not in named.constraint.grammar
    single = plan_tools(req(tool_choice=ToolChoice("required"), parallel_tool_calls=False), ChatTemplate(None))
    assert single.constraint and "{0," not in single.constraint.grammar.splitlines()[0]


def test_none_offers_nothing() -> None:
    plan = plan_tools(req(tool_choice=ToolChoice("none")), ChatTemplate(HERMES_TEMPLATE))
    assert plan.template_tools is None and plan.constraint is None and plan.make_parser is PlainText
    plan = plan_tools(req(tool_choice=ToolChoice("none")), ChatTemplate(None))
    assert "get_weather" not in json.dumps(plan.messages)


def test_pythonic_forced_falls_back_to_json_grammar() -> None:
    plan = plan_tools(req(tool_choice=ToolChoice("required")), ChatTemplate(HERMES_TEMPLATE), tool_parser="pythonic")
    assert plan.make_parser is get_parser("json") and plan.constraint


def test_response_format_without_tools_keeps_working() -> None:
    plan = plan_tools(GenerationRequest(messages=USER, response_format=ResponseFormat("json_object")), ChatTemplate(None))
    assert plan.constraint and plan.make_parser is PlainText


@pytest.mark.parametrize(
    ("request_kw", "param"),
    [
        ({"tools": (ToolDefinition("f", "", {"type": "object", "properties": {"a": {"type": "strin"}}}),)},
         "tools[0].function.parameters"),
        ({"tools": (WEATHER, ToolDefinition("g", "", {"type": "object", "minProperties": -1}))},
         "tools[1].function.parameters"),
        ({"tools": (ToolDefinition("f", "", {"type": "array"}),)}, "tools[0].function.parameters"),
        ({"tools": (WEATHER, WEATHER)}, "tools[1].function.name"),
        ({"tool_choice": ToolChoice("function", "nope")}, "tool_choice"),
        ({"tools": (), "tool_choice": ToolChoice("required")}, "tool_choice"),
        ({"messages": USER + (ChatMessage("tool", "x", tool_call_id="call_missing"),)}, "messages[1].tool_call_id"),
        ({"tools": (ToolDefinition("f", "", {"type": "object", "properties": {"a": {"$ref": "https://x.org/s"}}}),)},
         "tools[0].function.parameters"),
        ({"tools": (ToolDefinition("f", "", {
            "type": "object", "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}},
                                              "required": ["next"]}},
            "properties": {"head": {"$ref": "#/$defs/n"}}, "required": ["head"]}),)},
         "tools[0].function.parameters"),
        ({"tools": (), "response_format": ResponseFormat("json_schema", {"type": 12})}, "response_format.json_schema.schema"),
        ({"tools": (), "response_format": ResponseFormat("json_schema", None)}, "response_format.json_schema"),
    ],
)
def test_bad_requests_name_the_field(request_kw: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        plan_tools(req(**request_kw), ChatTemplate(None))
    assert info.value.param == param


def test_optional_recursion_is_fine() -> None:
    tree = {
        "type": "object",
        "$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                           "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["v"]}},
        "properties": {"root": {"$ref": "#/$defs/node"}},
        "required": ["root"],
    }
    plan = plan_tools(req(tools=(ToolDefinition("t", "", tree),), tool_choice=ToolChoice("required")), ChatTemplate(None))
    assert plan.constraint


def test_matching_tool_message_and_unchecked_ollama_style() -> None:
    call = ToolCall("call_1", "get_current_time", "{}")
    messages = USER + (ChatMessage("assistant", None, tool_calls=(call,)), ChatMessage("tool", "x", tool_call_id="call_1"),
                       ChatMessage("tool", "y"))
    plan_tools(req(messages=messages), ChatTemplate(None))


def test_strict_schemas_follow_openai_rules() -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    with pytest.raises(InvalidRequest) as info:
        plan_tools(req(tools=(ToolDefinition("f", "", loose, strict=True),)), ChatTemplate(None))
    assert info.value.param == "tools[0].function.parameters" and "additionalProperties" in str(info.value)
    partial = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "object", "properties": {
        "c": {"type": "integer"}}, "required": [], "additionalProperties": False}}, "required": ["a", "b"],
        "additionalProperties": False}
    with pytest.raises(InvalidRequest) as info:
        plan_tools(GenerationRequest(messages=USER, response_format=ResponseFormat("json_schema", partial, strict=True)),
                   ChatTemplate(None))
    assert info.value.param == "response_format.json_schema.schema" and "#/properties/b" in str(info.value)
    assert "'c'" in str(info.value)
    plan_tools(GenerationRequest(messages=USER, response_format=ResponseFormat("json_schema", partial)), ChatTemplate(None))


def test_deep_nesting_is_refused() -> None:
    deep: dict = {"type": "string"}
    for _ in range(200):
        deep = {"type": "array", "items": deep}
    with pytest.raises(InvalidRequest) as info:
        plan_tools(GenerationRequest(messages=USER, response_format=ResponseFormat("json_schema", deep)), ChatTemplate(None))
    assert "deeper" in str(info.value)
