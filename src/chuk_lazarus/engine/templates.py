"""Chat templates, rendered in Jinja's immutable sandbox.

A template ships inside the model file, so it is untrusted input: llama-cpp-python's
CVE-2024-34359 was code execution through exactly this. The sandbox refuses attribute access to
internals and mutation of the values we pass in.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..core.errors import InvalidRequest
from ..core.jsondepth import loads_bounded
from ..core.types import ChatMessage, ToolDefinition

# Used when the model carries no template at all: ChatML, the most common convention.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False) -> str:
    # HF's templates expect `tojson` to keep non-ASCII text as is, unlike Jinja's HTML-safe default.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def tool_to_dict(tool: ToolDefinition) -> dict[str, Any]:
    """A tool in the shape templates expect (the OpenAI/HF convention)."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def message_to_dict(message: ChatMessage) -> dict[str, Any]:
    """A message in the shape HF chat templates expect; tool-call arguments as objects, as they do."""
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            try:
                arguments: Any = loads_bounded(call.arguments) if call.arguments else {}
            except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
                arguments = call.arguments
            calls.append({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
        out["tool_calls"] = calls
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


class ChatTemplate:
    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source or CHATML_TEMPLATE
        self.bos_token = bos_token
        self.eos_token = eos_token
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, autoescape=False)
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        self._template = env.from_string(self.source)

    @property
    def supports_tools(self) -> bool:
        """Whether the template itself renders `tools` (otherwise the engine injects them)."""
        return "tools" in self.source

    def render(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
    ) -> str:
        try:
            return self._template.render(
                messages=messages,
                tools=tools,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            # The model's own template refused these messages (e.g. roles that must alternate).
            raise InvalidRequest(f"the model's chat template rejected the messages: {exc}", param="messages") from exc
