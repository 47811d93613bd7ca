"""Chat templates, rendered in Jinja's immutable sandbox.

A template ships inside the model file, so it is untrusted input: llama-cpp-python's
CVE-2024-34359 was code execution through exactly this. The sandbox refuses attribute access to
internals and mutation of the values we pass in.

The environment is the one HF's `apply_chat_template` gives templates (`raise_exception`,
`strftime_now`, `tojson` with its options, loop controls), so a model's own template renders here as
it does there. A template that cannot render these messages is the caller's problem (400), never ours.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..core.errors import InvalidRequest
from ..core.jsondepth import loads_bounded
from ..core.types import ChatMessage, ToolDefinition

# Used when the model carries no template at all: ChatML, the most common convention.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# What the render call itself sets; `template_kwargs` cannot replace these.
_RESERVED = frozenset({"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"})


# Mistral's templates refuse call ids that are not 9 alphanumerics (`tool_call.id|length != 9`).
_NINE_CHAR_IDS = re.compile(r"\|\s*length\s*!=\s*9")
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(
    value: Any,
    indent: int | None = None,
    ensure_ascii: bool = False,
    sort_keys: bool = False,
    separators: tuple[str, str] | list[str] | None = None,
) -> str:
    # HF's templates expect `tojson` to keep non-ASCII text as is, unlike Jinja's HTML-safe default.
    seps = tuple(separators) if separators is not None else None
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys, separators=seps)  # type: ignore[arg-type]


class JsonArguments(dict[str, Any]):
    """A call's arguments as templates see them: a mapping (`| tojson`, `.items()`), that is also its
    JSON text where a template treats it as a string (DeepSeek-R1's `'…' + arguments`), as the
    OpenAI wire format sends it."""

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False)

    def __add__(self, other: object) -> str:
        if isinstance(other, str):
            return str(self) + other
        return NotImplemented

    def __radd__(self, other: object) -> str:
        if isinstance(other, str):
            return other + str(self)
        return NotImplemented


def tool_to_dict(tool: ToolDefinition) -> dict[str, Any]:
    """A tool in the shape templates expect (the OpenAI/HF convention)."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def message_to_dict(message: ChatMessage, *, reasoning: str | None = None) -> dict[str, Any]:
    """A message in the shape HF chat templates expect; tool-call arguments as objects, as they do.

    `reasoning` (default: the message's own): an assistant turn's earlier reasoning, under both names
    templates read it by (`reasoning_content`: Qwen 3, DeepSeek, SmolLM3; `thinking`: gpt-oss)."""
    if reasoning is None:
        reasoning = message.reasoning
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            try:
                arguments: Any = loads_bounded(call.arguments) if call.arguments else {}
            except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
                arguments = call.arguments
            if isinstance(arguments, dict):
                arguments = JsonArguments(arguments)
            calls.append({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
        out["tool_calls"] = calls
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    if reasoning is not None and message.role == "assistant":
        out["reasoning_content"] = reasoning
        out["thinking"] = reasoning
    return out


class ChatTemplate:
    def __init__(
        self,
        source: str | None,
        *,
        bos_token: str = "",
        eos_token: str = "",
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        """`now` is the clock behind `strftime_now` and `date_string` (fixed in tests)."""
        self.source = source or CHATML_TEMPLATE
        self.bos_token = bos_token
        self.eos_token = eos_token
        self._now = now
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, autoescape=False, extensions=["jinja2.ext.loopcontrols"]
        )
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = self._strftime_now
        self._nine_char_ids = bool(_NINE_CHAR_IDS.search(self.source))
        self._error: str | None = None
        self._variables: frozenset[str] = frozenset()
        try:
            self._variables = frozenset(meta.find_undeclared_variables(env.parse(self.source)))
            self._template: jinja2.Template | None = env.from_string(self.source)
        except jinja2.TemplateError as exc:
            # A broken template must not stop the model loading: raw prompts still work, and each
            # chat request gets a 400 that says why.
            self._template, self._error = None, _describe(exc)

    def _strftime_now(self, fmt: str) -> str:
        return self._now().strftime(fmt)

    @property
    def supports_tools(self) -> bool:
        """Whether the template itself renders `tools` (otherwise the engine injects them).

        The variable, not the word: Phi-4-mini's template reads `message['tools']` and never `tools=`."""
        if self._template is None:
            return "tools" in self.source
        return "tools" in self._variables

    @property
    def variables(self) -> frozenset[str]:
        """The variables the template reads from its caller (`enable_thinking`, `reasoning_effort`, …)."""
        return self._variables

    def render(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        add_generation_prompt: bool = True,
        template_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """`template_kwargs`: extra variables for the template (a request's `chat_template_kwargs`:
        `enable_thinking`, `reasoning_effort`, …); they cannot replace the ones set here."""
        if self._template is None:
            raise InvalidRequest(f"the model's chat template could not be compiled: {self._error}", param="messages")
        variables: dict[str, Any] = {"date_string": self._now().strftime("%d %b %Y")}
        variables.update({k: v for k, v in (template_kwargs or {}).items() if k not in _RESERVED})
        if self._nine_char_ids:
            messages = [_with_nine_char_ids(m) for m in messages]
        try:
            return self._template.render(
                variables,
                messages=messages,
                tools=tools,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except jinja2.TemplateError as exc:
            # The model's own template refused these messages (e.g. roles that must alternate).
            raise InvalidRequest(f"the model's chat template rejected the messages: {exc}", param="messages") from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError) as exc:
            # Template code failing on input it did not expect (`'…' + None`): still about these messages.
            raise InvalidRequest(
                f"the model's chat template failed on these messages: {type(exc).__name__}: {exc}", param="messages"
            ) from exc


def nine_char_id(call_id: str) -> str:
    """A call id as Mistral's templates accept it: itself if 9 alphanumerics, else a stable digest (the
    same id gives the same digest, so a call and its result still pair up)."""
    if len(call_id) == 9 and call_id.isascii() and call_id.isalnum():
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    out = ""
    for _ in range(9):
        number, digit = divmod(number, len(_ALNUM))
        out += _ALNUM[digit]
    return out


def _with_nine_char_ids(message: dict[str, Any]) -> dict[str, Any]:
    out = dict(message)
    if isinstance(out.get("tool_call_id"), str):
        out["tool_call_id"] = nine_char_id(out["tool_call_id"])
    calls = out.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [
            {**c, "id": nine_char_id(c["id"])} if isinstance(c, dict) and isinstance(c.get("id"), str) else c
            for c in calls
        ]
    return out


def _describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.message} (line {exc.lineno})"
    return str(exc)
