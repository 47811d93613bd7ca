"""Rendering conformance for the chat-template families we serve (fixtures in tests/fixtures/templates/).

Per family: the exact text of key renders (system prompt, tools, an assistant call, its result, the
generation prompt), hand-checked against each model's published format; the tool-call parser and
reasoning format detected from the template; and a round trip: a plausible model output in the
family's own format, split into reasoning and content, parses back into the call with the parser the
engine would pick.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chuk_lazarus.core.errors import InvalidRequest
from chuk_lazarus.core.types import ChatMessage, GenerationRequest, ToolCall, ToolDefinition
from chuk_lazarus.engine.templates import ChatTemplate, message_to_dict, nine_char_id, tool_to_dict
from chuk_lazarus.engine.tool_plan import plan_tools
from chuk_lazarus.tools import fold, get_parser, select_parser
from chuk_lazarus.tools.base import ToolParser
from chuk_lazarus.tools.generic import GenericJsonParser
from chuk_lazarus.tools.reasoning import (
    ReasoningFormat,
    detect_reasoning_format,
    prompt_opens_reasoning,
    split_reasoning,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
CLOCK = datetime(2026, 12, 2, 9, 30)
WEATHER = ToolDefinition(
    "get_weather",
    "Get the weather for a city",
    {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]},
)
CALL_ID = "call_0123456789abcdefghijklmn"  # the shape of our own ids (core.ids)
SYSTEM = ChatMessage("system", "You are terse.")
USER = ChatMessage("user", "Weather in Paris?")
CALL = ChatMessage("assistant", None, tool_calls=(ToolCall(CALL_ID, "get_weather", '{"city": "Paris"}'),))
RESULT = ChatMessage("tool", "18C and sunny", tool_call_id=CALL_ID)
ANSWER = ChatMessage("assistant", "18C and sunny in Paris.")
FOLLOW_UP = ChatMessage("user", "And tomorrow?")
TOOLS = [tool_to_dict(WEATHER)]
WEATHER_JSON = (
    '{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city", '
    '"parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, '
    '"required": ["city"]}}}'
)

# family -> (fixture, bos, eos, tool parser from the template, reasoning format)
FAMILIES: dict[str, tuple[str, str, str, str | None, ReasoningFormat]] = {
    "llama3.1": ("llama3_1", "<|begin_of_text|>", "<|eot_id|>", "llama3_json", "none"),
    "llama3.2": ("llama3_2", "<|begin_of_text|>", "<|eot_id|>", "llama3_json", "none"),
    "qwen2.5": ("qwen2_5", "", "<|im_end|>", "hermes", "none"),
    "qwen3": ("qwen3", "", "<|im_end|>", "hermes", "think_tags"),
    "mistral-small-3.2": ("mistral_small_3_2", "<s>", "</s>", "mistral", "none"),
    "magistral": ("magistral", "<s>", "</s>", "mistral", "mistral"),
    "gemma3": ("gemma3", "<bos>", "<eos>", None, "none"),
    "phi4-mini": ("phi4_mini", "", "<|endoftext|>", None, "none"),
    "phi4-mini-tools": ("phi4_mini_tools", "", "<|endoftext|>", "granite", "none"),
    "deepseek-r1-distill": (
        "deepseek_r1_distill", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "deepseek_r1", "think_tags"
    ),
    "gpt-oss": ("gpt_oss", "", "<|return|>", "harmony", "harmony"),
    "granite3": ("granite3", "", "<|end_of_text|>", "granite", "think_tags"),
    "smollm2": ("smollm2", "", "<|im_end|>", None, "none"),
    "smollm3": ("smollm3", "", "<|im_end|>", "hermes", "think_tags"),
}


def template(family: str) -> ChatTemplate:
    fixture, bos, eos, _, _ = FAMILIES[family]
    return ChatTemplate((FIXTURES / f"{fixture}.jinja").read_text(), bos_token=bos, eos_token=eos, now=lambda: CLOCK)


def render(family: str, *messages: ChatMessage, tools: bool = False, **kw: Any) -> str:
    return template(family).render([message_to_dict(m) for m in messages], tools=TOOLS if tools else None, **kw)


def parse_output(parser: type[ToolParser], text: str) -> tuple[str | None, list[tuple[str, str]]]:
    p = parser()
    content, calls = fold(p.feed(text) + p.finish())
    return content, [(c.name, c.arguments) for c in calls]


def engine_parser(family: str) -> type[ToolParser]:
    """The parser the engine plans with for a request offering WEATHER (tool_choice=auto)."""
    request = GenerationRequest(messages=(USER,), tools=(WEATHER,))
    made = plan_tools(request, template(family)).make_parser()
    assert isinstance(made, ToolParser)
    return type(made)


def model_turn(family: str, output: str, prompt: str) -> tuple[str, str | None, list[tuple[str, str]]]:
    """A model's output read the way the engine will: reasoning split off, then the tool parser."""
    fmt = detect_reasoning_format(template(family).source)
    reasoning, content = split_reasoning(output, fmt, in_reasoning=prompt_opens_reasoning(fmt, prompt))
    text, calls = parse_output(engine_parser(family), content)
    return reasoning, text, calls


# ---- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_detection(family: str) -> None:
    _, _, _, parser, reasoning = FAMILIES[family]
    source = template(family).source
    found = select_parser(source)
    assert (found.name if found else None) == parser
    assert detect_reasoning_format(source) == reasoning


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_renders_the_whole_conversation(family: str) -> None:
    """System, tools, a call, its result, the answer and a follow-up render (or the family's template
    refuses them as a 400, never anything else) in whatever way the engine would hand them over."""
    request = GenerationRequest(messages=(SYSTEM, USER, CALL, RESULT, ANSWER, FOLLOW_UP), tools=(WEATHER,))
    plan = plan_tools(request, template(family))
    text = template(family).render(plan.messages, tools=plan.template_tools)
    for part in ("You are terse.", "Weather in Paris?", "get_weather", "18C and sunny", "And tomorrow?"):
        assert part in text, part


# ---- Llama 3.x ----------------------------------------------------------------------------------

LLAMA_SYSTEM = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{env}Cutting Knowledge Date: December 2023\n"
    "Today Date: 02 Dec 2026\n\nYou are terse.<|eot_id|>"
)
LLAMA_TOOLS_USER = (
    "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a "
    "function call with its proper arguments that best answers the given prompt.\n\nRespond in the format "
    '{"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n'
)
LLAMA_ASSISTANT = "<|start_header_id|>assistant<|end_header_id|>\n\n"


@pytest.mark.parametrize("family", ["llama3.1", "llama3.2"])
def test_llama3_plain_and_multi_turn(family: str) -> None:
    assert render(family, SYSTEM, USER) == LLAMA_SYSTEM.format(env="") + (
        "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>" + LLAMA_ASSISTANT
    )
    text = render(family, SYSTEM, USER, ANSWER, FOLLOW_UP)
    assert text.endswith(
        LLAMA_ASSISTANT + "18C and sunny in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
        "And tomorrow?<|eot_id|>" + LLAMA_ASSISTANT
    )


@pytest.mark.parametrize("family", ["llama3.1", "llama3.2"])
def test_llama3_tool_round_trip(family: str) -> None:
    text = render(family, SYSTEM, USER, CALL, RESULT, tools=True)
    indented = (
        '{\n    "type": "function",\n    "function": {\n        "name": "get_weather",\n        "description": '
        '"Get the weather for a city",\n        "parameters": {\n            "type": "object",\n            '
        '"properties": {\n                "city": {\n                    "type": "string",\n                    '
        '"description": "City name"\n                }\n            },\n            "required": [\n                '
        '"city"\n            ]\n        }\n    }\n}'
    )
    assert text == (
        LLAMA_SYSTEM.format(env="Environment: ipython\n") + LLAMA_TOOLS_USER + indented + "\n\nWeather in Paris?<|eot_id|>"
        + LLAMA_ASSISTANT + '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>'
        "<|start_header_id|>ipython<|end_header_id|>\n\n\"18C and sunny\"<|eot_id|>" + LLAMA_ASSISTANT
    )  # fmt: skip
    assert model_turn(family, '{"name": "get_weather", "parameters": {"city": "Lyon"}}', text) == (
        "", None, [("get_weather", '{"city":"Lyon"}')],
    )  # fmt: skip
    assert model_turn(family, "It is sunny.", text) == ("", "It is sunny.", [])


def test_llama3_date_string_and_one_call_per_turn() -> None:
    assert "Today Date: 01 Jan 2025\n" in render("llama3.1", USER, template_kwargs={"date_string": "01 Jan 2025"})
    two = ChatMessage("assistant", None, tool_calls=(ToolCall("a", "f", "{}"), ToolCall("b", "g", "{}")))
    with pytest.raises(InvalidRequest, match="single tool-calls"):
        render("llama3.1", USER, two, tools=True)


# ---- Qwen 2.5 / Qwen 3 ----------------------------------------------------------------------------

QWEN_TOOLS = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function "
    f"signatures within <tools></tools> XML tags:\n<tools>\n{WEATHER_JSON}\n</tools>\n\nFor each function call, return "
    "a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
)
QWEN_CALL_AND_RESULT = (
    '<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", '
    '"arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n18C and sunny\n'
    "</tool_response><|im_end|>\n<|im_start|>assistant\n"
)


def test_qwen2_5_default_system_and_tools() -> None:
    default = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    assert render("qwen2.5", USER) == default + "<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"
    text = render("qwen2.5", SYSTEM, USER, CALL, RESULT, tools=True)
    assert text == "<|im_start|>system\nYou are terse.\n\n" + QWEN_TOOLS + QWEN_CALL_AND_RESULT
    output = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>'
    assert model_turn("qwen2.5", output, text) == ("", "Let me check.", [("get_weather", '{"city":"Lyon"}')])


def test_qwen3_tools_thinking_on_and_off() -> None:
    text = render("qwen3", SYSTEM, USER, CALL, RESULT, tools=True)
    assert text == "<|im_start|>system\nYou are terse.\n\n" + QWEN_TOOLS + QWEN_CALL_AND_RESULT
    off = render("qwen3", USER, template_kwargs={"enable_thinking": False})
    assert off == "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert not prompt_opens_reasoning("think_tags", off)
    output = '<think>\nThe user wants Lyon.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>'
    assert model_turn("qwen3", output, text) == ("The user wants Lyon.", None, [("get_weather", '{"city":"Lyon"}')])
    assert model_turn("qwen3", "Paris is sunny.", off) == ("", "Paris is sunny.", [])


def test_qwen3_reasoning_round_trip() -> None:
    """Reasoning is shown again only after the last user query: the turn with the call keeps it; a
    finished earlier exchange loses it."""
    turns = [message_to_dict(USER), message_to_dict(CALL, reasoning="Need the weather."), message_to_dict(RESULT)]
    text = template("qwen3").render(turns)
    assert "<|im_start|>assistant\n<think>\nNeed the weather.\n</think>\n\n<tool_call>" in text
    earlier = [message_to_dict(USER), {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nSunny."},
               message_to_dict(FOLLOW_UP)]  # fmt: skip
    assert template("qwen3").render(earlier) == (
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\nSunny.<|im_end|>\n"
        "<|im_start|>user\nAnd tomorrow?<|im_end|>\n<|im_start|>assistant\n"
    )


# ---- Mistral Small 3.x / Magistral ------------------------------------------------------------------


def test_mistral_v7_tools_call_ids_and_results() -> None:
    text = render("mistral-small-3.2", SYSTEM, USER, CALL, RESULT, tools=True)
    short = nine_char_id(CALL_ID)
    assert len(short) == 9 and short.isalnum() and short == nine_char_id(CALL_ID)
    assert text == (
        f"<s>[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][AVAILABLE_TOOLS][{WEATHER_JSON}][/AVAILABLE_TOOLS]"
        f'[INST]Weather in Paris?[/INST][TOOL_CALLS]get_weather[CALL_ID]{short}[ARGS]{{"city": "Paris"}}</s>'
        f"[TOOL_RESULTS]{short}[TOOL_CONTENT]18C and sunny[/TOOL_RESULTS]"
    )
    default = render("mistral-small-3.2", USER)
    assert default.startswith("<s>[SYSTEM_PROMPT]You are Mistral Small 3") and "2026-12-02" in default
    assert model_turn("mistral-small-3.2", '[TOOL_CALLS]get_weather[ARGS]{"city": "Lyon"}', text) == (
        "", None, [("get_weather", '{"city":"Lyon"}')],
    )  # fmt: skip
    with pytest.raises(InvalidRequest, match="alternate"):
        render("mistral-small-3.2", USER, USER)


def test_magistral_thinking_round_trip() -> None:
    text = render("magistral", USER, CALL, RESULT, tools=True)
    assert text.startswith("<s>[SYSTEM_PROMPT]First draft your thinking process") and "[THINK]Your thoughts" in text
    assert text.endswith(
        '[INST]Weather in Paris?[/INST][TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}</s>'
        "[TOOL_RESULTS]18C and sunny[/TOOL_RESULTS]"
    )
    thought = {"role": "assistant", "content": [{"type": "thinking", "thinking": "Sunny, so…"},
                                                 {"type": "text", "text": "Sunny."}]}  # fmt: skip
    again = template("magistral").render([message_to_dict(SYSTEM), message_to_dict(USER), thought])
    assert again == "<s>[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST]Weather in Paris?[/INST][THINK]Sunny, so…[/THINK]Sunny.</s>"
    output = '[THINK]Need the weather tool.[/THINK][TOOL_CALLS]get_weather[ARGS]{"city": "Lyon"}'
    assert model_turn("magistral", output, text) == ("Need the weather tool.", None, [("get_weather", '{"city":"Lyon"}')])
    assert model_turn("magistral", "[THINK]2+2[/THINK]4", text) == ("2+2", "4", [])


# ---- templates without tool support: Gemma 3, SmolLM2, Phi-4-mini as shipped ---------------------------


def test_gemma3_system_folds_into_the_first_user_turn() -> None:
    assert render("gemma3", SYSTEM, USER, ANSWER, FOLLOW_UP) == (
        "<bos><start_of_turn>user\nYou are terse.\n\nWeather in Paris?<end_of_turn>\n<start_of_turn>model\n"
        "18C and sunny in Paris.<end_of_turn>\n<start_of_turn>user\nAnd tomorrow?<end_of_turn>\n<start_of_turn>model\n"
    )
    with pytest.raises(InvalidRequest, match="alternate"):
        render("gemma3", USER, USER)


@pytest.mark.parametrize("family", ["gemma3", "smollm2", "phi4-mini"])
def test_injected_tools_round_trip(family: str) -> None:
    """No native tools: the engine teaches the generic JSON format in the system prompt and renders the
    call and its result in turns the template accepts (Gemma's alternation included)."""
    assert not template(family).supports_tools
    assert engine_parser(family) is GenericJsonParser
    request = GenerationRequest(messages=(SYSTEM, USER, CALL, RESULT), tools=(WEATHER,))
    plan = plan_tools(request, template(family))
    assert plan.template_tools is None
    text = template(family).render(plan.messages)
    # The answered call is folded into the user's turn with its result (engine/tool_prompt.py).
    assert 'get_weather({"city": "Paris"}) returned: 18C and sunny' in text
    output = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]}'
    assert model_turn(family, output, text) == ("", None, [("get_weather", '{"city":"Lyon"}')])
    assert model_turn(family, '{"response": "Sunny."}', text) == ("", "Sunny.", [])


def test_smollm2_default_system_prompt() -> None:
    assert render("smollm2", USER) == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_phi4_mini_as_shipped_and_with_tools() -> None:
    assert render("phi4-mini", SYSTEM, USER) == "<|system|>You are terse.<|end|><|user|>Weather in Paris?<|end|><|assistant|>"
    # Phi-4-mini as trained answers `functools[...]`: reachable by `--tool-parser phi4`.
    assert parse_output(get_parser("phi4"), 'functools[{"name": "get_weather", "arguments": {"city": "Lyon"}}]') == (
        None, [("get_weather", '{"city":"Lyon"}')],
    )  # fmt: skip
    text = render("phi4-mini-tools", SYSTEM, USER, CALL, RESULT, tools=True)
    tool = WEATHER_JSON[len('{"type": "function", "function": ') : -1]
    assert text == (
        f"<|system|>You are terse.<|tool|>{tool}<|/tool|>You are a helpful assistant with some tools.\nTo use a tool, "
        'respond in this format: <|tool_call|>{"name": "foo", "arguments": {"a": 1}}<|/tool_call|><|end|>'
        '<|user|>Weather in Paris?<|end|><|assistant|><|tool_call|>{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}<|/tool_call|><|end|><|tool_response|>"18C and sunny"<|end|><|assistant|>'
    )
    output = '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Lyon"}}<|/tool_call|>'
    assert model_turn("phi4-mini-tools", output, text) == ("", None, [("get_weather", '{"city":"Lyon"}')])


# ---- DeepSeek-R1 distills -------------------------------------------------------------------------------


def test_deepseek_r1_opens_think_and_renders_calls_with_string_arguments() -> None:
    prompt = render("deepseek-r1-distill", SYSTEM, USER)
    assert prompt == "<｜begin▁of▁sentence｜>You are terse.<｜User｜>Weather in Paris?<｜Assistant｜><think>\n"
    assert prompt_opens_reasoning("think_tags", prompt)
    # The template writes `'…' + arguments`: the arguments reach it as JSON text where it wants a string.
    history = template("deepseek-r1-distill").render(
        [message_to_dict(m) for m in (SYSTEM, USER, CALL, RESULT)], add_generation_prompt=True
    )
    assert history == (
        "<｜begin▁of▁sentence｜>You are terse.<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜>"
        '<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜>'
        "<｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>18C and sunny"
        "<｜tool▁output▁end｜><｜tool▁outputs▁end｜>"
    )
    # Earlier reasoning is cut from the history at </think>.
    answered = ChatMessage("assistant", "<think>\nsunny\n</think>\n\nSunny.")
    assert render("deepseek-r1-distill", USER, answered, FOLLOW_UP).endswith(
        "<｜Assistant｜>\n\nSunny.<｜end▁of▁sentence｜><｜User｜>And tomorrow?<｜Assistant｜><think>\n"
    )


def test_deepseek_r1_model_output() -> None:
    prompt = render("deepseek-r1-distill", USER)
    # The template opened <think>: the output starts inside the reasoning.
    reasoning, content, calls = model_turn("deepseek-r1-distill", "The user asks.\n</think>\n\nIt is sunny.", prompt)
    assert (reasoning, content, calls) == ("The user asks.", "It is sunny.", [])
    # Its template lists no tools (the engine injects the generic format); the native markup parses too.
    native = (
        "Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
        '{"city": "Lyon"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
    )
    parser = select_parser(template("deepseek-r1-distill").source)
    assert parser is not None
    assert parse_output(parser, native) == ("Let me check.", [("get_weather", '{"city":"Lyon"}')])


# ---- gpt-oss (harmony) ------------------------------------------------------------------------------------

OSS_SYSTEM = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\n"
    "Current date: 2026-12-02\n\nReasoning: {effort}\n\n# Valid channels: analysis, commentary, final. Channel must be "
    "included for every message.{tools}<|end|>"
)


def test_gpt_oss_system_developer_and_reasoning_effort() -> None:
    text = render("gpt-oss", SYSTEM, USER, template_kwargs={"reasoning_effort": "high"})
    assert text == (
        OSS_SYSTEM.format(effort="high", tools="") + "<|start|>developer<|message|># Instructions\n\nYou are terse.\n\n"
        "<|end|><|start|>user<|message|>Weather in Paris?<|end|><|start|>assistant"
    )
    assert "Reasoning: medium" in render("gpt-oss", USER)


def test_gpt_oss_tool_round_trip() -> None:
    text = render("gpt-oss", USER, ChatMessage("assistant", None, tool_calls=CALL.tool_calls), RESULT, tools=True)
    assert text == (
        OSS_SYSTEM.format(effort="medium", tools="\nCalls to these tools must go to the commentary channel: 'functions'.")
        + "<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n// Get the weather for a city\n"
        "type get_weather = (_: {\n// City name\ncity: string,\n}) => any;\n\n} // namespace functions<|end|>"
        "<|start|>user<|message|>Weather in Paris?<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary "
        'json<|message|>{"city": "Paris"}<|call|><|start|>functions.get_weather to=assistant<|channel|>commentary'
        '<|message|>"18C and sunny"<|end|><|start|>assistant'
    )  # fmt: skip
    output = (
        "<|channel|>analysis<|message|>Need the weather for Lyon.<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.get_weather <|constrain|>json<|message|>{"city": "Lyon"}<|call|>'
    )
    assert model_turn("gpt-oss", output, text) == ("Need the weather for Lyon.", None, [("get_weather", '{"city":"Lyon"}')])
    final = "<|channel|>analysis<|message|>Sunny.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny."
    assert model_turn("gpt-oss", final, text) == ("Sunny.", "It is sunny.", [])


def test_gpt_oss_thinking_round_trip() -> None:
    """The analysis of the turn that made the call comes back (from `thinking`) while no final answer
    follows it; once one does, it is dropped."""
    thinking = message_to_dict(CALL, reasoning="Need the weather.")
    pending = template("gpt-oss").render([message_to_dict(USER), thinking, message_to_dict(RESULT)])
    assert "<|start|>assistant<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant to=functions" in pending
    done = template("gpt-oss").render([message_to_dict(m) for m in (USER,)] + [thinking] +
                                      [message_to_dict(m) for m in (RESULT, ANSWER, FOLLOW_UP)])  # fmt: skip
    assert "Need the weather." not in done
    assert "<|start|>assistant<|channel|>final<|message|>18C and sunny in Paris.<|end|>" in done
    with pytest.raises(InvalidRequest, match="<\\|channel\\|>"):
        render("gpt-oss", USER, ChatMessage("assistant", "<|channel|>final<|message|>x"), FOLLOW_UP)


# ---- Granite 3.x ---------------------------------------------------------------------------------------------


def test_granite_default_system_tools_and_calls() -> None:
    assert render("granite3", USER) == (
        "<|start_of_role|>system<|end_of_role|>Knowledge Cutoff Date: April 2024. Today's Date: December 02, 2026. "
        "You are Granite, developed by IBM. You are a helpful AI assistant.<|end_of_text|>\n"
        "<|start_of_role|>user<|end_of_role|>Weather in Paris?<|end_of_text|>\n<|start_of_role|>assistant<|end_of_role|>"
    )
    with_tools = render("granite3", USER, tools=True)
    assert "respond only with <|tool_call|> followed by a JSON list of tools used." in with_tools
    assert '<|start_of_role|>available_tools<|end_of_role|>[\n    {\n        "type": "function",' in with_tools
    text = render("granite3", SYSTEM, USER, CALL, RESULT, tools=True)
    assert text.endswith(
        '<|start_of_role|>assistant<|end_of_role|><|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]'
        "<|end_of_text|>\n<|start_of_role|>tool_response<|end_of_role|>18C and sunny<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>"
    )
    output = '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Lyon"}}]'
    assert model_turn("granite3", output, text) == ("", None, [("get_weather", '{"city":"Lyon"}')])
    thinking = render("granite3", USER, template_kwargs={"thinking": True})
    assert "Write your thoughts between <think></think>" in thinking


# ---- SmolLM3 ---------------------------------------------------------------------------------------------------

SMOL3_HEAD = (
    "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: 02 December 2026\n"
    "Reasoning Mode: {mode}\n\n## Custom Instructions\n\nYou are terse.\n\n"
)


def test_smollm3_thinking_modes_and_tools() -> None:
    on = render("smollm3", SYSTEM, USER)
    assert on == SMOL3_HEAD.format(mode="/think") + "<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"
    off = render("smollm3", SYSTEM, USER, template_kwargs={"enable_thinking": False})
    assert off.startswith(SMOL3_HEAD.format(mode="/no_think")) and off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n")
    flagged = render("smollm3", ChatMessage("system", "You are terse. /no_think"), USER)
    assert flagged == off
    text = render("smollm3", SYSTEM, USER, CALL, RESULT, tools=True)
    assert f"<tools>\n{WEATHER_JSON}\n</tools>" in text
    assert text.endswith(
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
        "<|im_end|>\n<|im_start|>user\n<tool_response>\n18C and sunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
    )
    output = '<think>\nLyon, then.\n</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lyon"}}\n</tool_call>'
    assert model_turn("smollm3", output, text) == ("Lyon, then.", None, [("get_weather", '{"city":"Lyon"}')])
    again = template("smollm3").render([message_to_dict(USER), message_to_dict(ANSWER, reasoning="Look it up."),
                                        message_to_dict(FOLLOW_UP)])  # fmt: skip
    assert "<|im_start|>assistant\n<think>\nLook it up.\n</think>\n18C and sunny in Paris.<|im_end|>" in again


# ---- history == output: an earlier call, as the template writes it, reads back as that call --------------

# family -> (prefix rendered with a generation prompt?, text the turn starts with, text it ends with)
HISTORY: dict[str, tuple[bool, str, str]] = {
    "llama3.1": (True, "", "<|eot_id|>"),
    "llama3.2": (True, "", "<|eot_id|>"),
    "qwen2.5": (True, "", "<|im_end|>\n"),
    "qwen3": (True, "", "<|im_end|>\n"),
    "smollm3": (True, "", "<|im_end|>\n"),
    "mistral-small-3.2": (True, "", "</s>"),
    "magistral": (True, "", "</s>"),
    "granite3": (True, "", "<|end_of_text|>\n"),
    "phi4-mini-tools": (True, "", "<|end|><|endoftext|>"),
    "gpt-oss": (True, "", ""),
    "deepseek-r1-distill": (False, "<｜Assistant｜>", "<｜end▁of▁sentence｜>"),
}


@pytest.mark.parametrize("family", sorted(HISTORY))
def test_a_rendered_call_parses_back(family: str) -> None:
    """The template's own rendering of an assistant call is the format its model writes, so the
    detected parser reads the call back out of the history unchanged."""
    with_prompt, head, tail = HISTORY[family]
    t = template(family)
    prefix = t.render([message_to_dict(m) for m in (SYSTEM, USER)], tools=TOOLS, add_generation_prompt=with_prompt)
    full = t.render([message_to_dict(m) for m in (SYSTEM, USER, CALL)], tools=TOOLS, add_generation_prompt=False)
    assert full.startswith(prefix)
    turn = full[len(prefix) :]
    assert turn.startswith(head) and turn.endswith(tail), turn
    turn = turn[len(head) : len(turn) - len(tail)]
    if family == "gpt-oss":
        turn = "<|start|>assistant" + turn  # the generation prompt's header, which the call message continues
    fmt = detect_reasoning_format(t.source)
    _, content = split_reasoning(turn, fmt)
    parser = select_parser(t.source)
    assert parser is not None
    assert parse_output(parser, content) == (None, [("get_weather", '{"city":"Paris"}')])
