"""Chat templates render in an immutable sandbox: model files are untrusted input."""

from __future__ import annotations

import pytest

from chuk_lazarus.core.errors import InvalidRequest
from chuk_lazarus.core.types import ChatMessage, ToolCall
from chuk_lazarus.engine.templates import CHATML_TEMPLATE, ChatTemplate, message_to_dict


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
