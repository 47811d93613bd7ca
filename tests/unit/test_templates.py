"""Chat templates render in an immutable sandbox: model files are untrusted input."""

from __future__ import annotations

from datetime import datetime

import pytest

from chuk_lazarus.core.errors import InvalidRequest
from chuk_lazarus.core.types import ChatMessage, ToolCall
from chuk_lazarus.engine.templates import (
    CHATML_TEMPLATE,
    ChatTemplate,
    JsonArguments,
    message_to_dict,
    nine_char_id,
)


def test_chatml_fallback_renders_a_generation_prompt() -> None:
    text = ChatTemplate(None).render([{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert ChatTemplate(None).source == CHATML_TEMPLATE


def test_bos_eos_and_tojson_keep_unicode() -> None:
    template = ChatTemplate("{{ bos_token }}{{ messages[0]['content'] | tojson }}{{ eos_token }}", bos_token="<s>",
                            eos_token="</s>")  # fmt: skip
    assert template.render([{"role": "user", "content": "café"}]) == '<s>"café"</s>'


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # the CVE-2024-34359 route to os.system
        "{{ messages.append({'role': 'x'}) }}",  # mutating the caller's data
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ],
)
def test_template_code_cannot_escape_the_sandbox(hostile: str) -> None:
    with pytest.raises(Exception) as info:
        ChatTemplate(hostile).render([{"role": "user", "content": "x"}])
    assert "unsafe" in str(info.value).lower() or "not safely callable" in str(info.value).lower() or isinstance(
        info.value, InvalidRequest
    )


def test_raise_exception_in_a_template_is_an_invalid_request() -> None:
    template = ChatTemplate("{% if messages[0]['role'] != 'user' %}{{ raise_exception('must start with user') }}{% endif %}")
    with pytest.raises(InvalidRequest, match="must start with user"):
        template.render([{"role": "assistant", "content": "x"}])


def test_tool_calls_reach_templates_with_arguments_as_objects() -> None:
    message = ChatMessage("assistant", None, tool_calls=(ToolCall("call_1", "f", '{"a": 1}'),))
    rendered = message_to_dict(message)
    assert rendered["content"] == ""
    assert rendered["tool_calls"][0]["function"] == {"name": "f", "arguments": {"a": 1}}


def test_supports_tools_reflects_the_template() -> None:
    assert not ChatTemplate(CHATML_TEMPLATE).supports_tools
    assert ChatTemplate("{% if tools %}{{ tools | tojson }}{% endif %}").supports_tools


# ---- the environment HF chat templates expect ---------------------------------------------------

USER = [{"role": "user", "content": "Hi"}]


def _render(source: str, messages: list | None = None, **kw: object) -> str:
    return ChatTemplate(source, now=lambda: datetime(2026, 12, 2, 9, 30)).render(messages or USER, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ {'b': 1, 'a': 'é'} | tojson }}", '{"b": 1, "a": "é"}'),
        ("{{ {'b': 1, 'a': 'é'} | tojson(ensure_ascii=True) }}", '{"b": 1, "a": "\\u00e9"}'),
        ("{{ {'b': 1, 'a': 2} | tojson(sort_keys=True) }}", '{"a": 2, "b": 1}'),
        ("{{ {'a': [1, 2]} | tojson(separators=(',', ':')) }}", '{"a":[1,2]}'),
        ("{{ {'a': 1} | tojson(indent=2) }}", '{\n  "a": 1\n}'),
        ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
         "02"),
        ("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}", "1"),
        ("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", "a=1"),
        ("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", "Hi"),
        ("{{ strftime_now('%Y-%m-%d') }}|{{ date_string }}", "2026-12-02|02 Dec 2026"),
        ("{{ 'yes' if builtin_tools is defined else 'no' }}", "no"),
        ("{{ 'x' if tools is none else 'y' }}", "x"),
    ],
)  # fmt: skip
def test_template_features(source: str, expected: str) -> None:
    assert _render(source) == expected


def test_template_kwargs_reach_the_template_but_cannot_replace_the_request() -> None:
    source = "{{ enable_thinking }}|{{ reasoning_effort | default('medium') }}|{{ messages | length }}|{{ add_generation_prompt }}"
    assert _render(source) == "|medium|1|True"
    kwargs = {"enable_thinking": False, "reasoning_effort": "high", "messages": [], "add_generation_prompt": False}
    assert _render(source, template_kwargs=kwargs) == "False|high|1|True"
    assert ChatTemplate(source).variables >= {"enable_thinking", "reasoning_effort", "messages"}


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{{ raise_exception('no system role') }}", "no system role"),
        ("{% for m in messages %}{{ m.content + 1 }}{% endfor %}", "TypeError"),
        ("{{ missing.attribute }}", "missing"),
        ("{{ messages[5]['content'] }}", "no element 5"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
    ],
)
def test_a_template_that_fails_is_a_400_naming_why(source: str, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match) as info:
        _render(source)
    assert info.value.param == "messages"


def test_a_template_that_does_not_compile_loads_and_each_chat_is_a_400() -> None:
    template = ChatTemplate("{% for m in messages %}{{ m.content }")  # the model still loads
    with pytest.raises(InvalidRequest, match="could not be compiled.*line 1"):
        template.render(USER)


def test_supports_tools_means_reading_the_tools_variable() -> None:
    assert ChatTemplate("{%- if not tools is defined %}{% set tools = none %}{% endif %}{{ tools }}").supports_tools
    # Phi-4-mini's own template reads a system message's "tools" key, never `tools=`.
    assert not ChatTemplate("{% if 'tools' in m and m['tools'] %}{{ m['tools'] }}{% endif %}").supports_tools


def test_call_arguments_are_a_mapping_and_json_text() -> None:
    message = ChatMessage("assistant", None, tool_calls=(ToolCall("call_1", "f", '{"a": "é"}'),))
    arguments = message_to_dict(message)["tool_calls"][0]["function"]["arguments"]
    assert isinstance(arguments, JsonArguments) and arguments == {"a": "é"}
    source = "{% set a = messages[0].tool_calls[0].function.arguments %}{{ a | tojson }}|{{ '>' + a }}|{{ a + '<' }}|{{ a }}|{{ a.items() | list | length }}|{{ a is mapping }}"
    assert _render(source, [message_to_dict(message)]) == '{"a": "é"}|>{"a": "é"}|{"a": "é"}<|{"a": "é"}|1|True'


def test_reasoning_reaches_templates_under_both_names() -> None:
    rendered = message_to_dict(ChatMessage("assistant", "Paris."), reasoning="Capital.")
    assert rendered["reasoning_content"] == rendered["thinking"] == "Capital."
    assert "reasoning_content" not in message_to_dict(ChatMessage("assistant", "Paris."))


def test_nine_character_call_ids_only_for_templates_that_demand_them() -> None:
    assert nine_char_id("a1b2c3d4e") == "a1b2c3d4e"
    long = "call_0123456789abcdefghijklmn"
    assert len(nine_char_id(long)) == 9 and nine_char_id(long).isalnum() and nine_char_id(long) != nine_char_id(long + "x")
    messages = [{"role": "tool", "content": "x", "tool_call_id": long}]
    mistral = "{% if messages[0].tool_call_id | length != 9 %}{{ raise_exception('bad id') }}{% endif %}{{ messages[0].tool_call_id }}"
    assert _render(mistral, messages) == nine_char_id(long)
    assert _render("{{ messages[0].tool_call_id }}", messages) == long
