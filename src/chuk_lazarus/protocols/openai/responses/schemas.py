"""The `POST /v1/responses` request schema, and its one conversion into a `GenerationRequest`.

Unknown-field policy, as for chat completions (`..schemas`): fields OpenAI defines that do not change
what we generate (`metadata`, `user`, `safety_identifier`, `prompt_cache_key`, `service_tier`,
`include`, `text.verbosity`, `reasoning.summary`) are accepted and ignored (`reasoning.effort` reaches
a reasoning model's template: "none"/"minimal" turn its reasoning off); fields that would change the answer and that we cannot
honour (`background`, `conversation`, `prompt` templates, built-in tools, logprobs, `truncation: auto`,
`max_tool_calls`, moderation, context management) are a 400 naming them; fields OpenAI does not
define are ignored.

Input items are parsed in `items.py`; this module holds the request's top level and the tools.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ....core.errors import InvalidRequest, UnsupportedFeature
from ....core.types import (
    ChatMessage,
    GenerationRequest,
    ResponseFormat,
    SamplingParams,
    ToolChoice,
    ToolDefinition,
    unset_sampling,
)
from ..schemas import Effort, reasoning_control
from .items import validate_at

# Built-in tools OpenAI runs on its side; a local model server has none of them.
BUILT_IN_TOOLS = (
    "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
    "file_search", "computer_use_preview", "computer", "code_interpreter", "image_generation", "mcp",
    "local_shell", "shell", "apply_patch", "custom", "tool_search", "namespace",
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionTool(_Model):
    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_\-.]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def echo(self) -> dict[str, Any]:
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters, "strict": self.strict}  # fmt: skip


class NamedFunction(_Model):
    type: Literal["function"]
    name: str


class JsonSchemaFormat(_Model):
    type: Literal["json_schema"]
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


class PlainFormat(_Model):
    type: Literal["text", "json_object"]


class TextConfig(_Model):
    # A dict, read by `text_format`, so an error names `text.format.schema`, not a union branch.
    format: dict[str, Any] = Field(default_factory=lambda: {"type": "text"})
    verbosity: Literal["low", "medium", "high"] | None = None


def text_format(text: TextConfig) -> JsonSchemaFormat | PlainFormat:
    if text.format.get("type") == "json_schema":
        return validate_at(JsonSchemaFormat, text.format, "text.format")
    return validate_at(PlainFormat, text.format, "text.format")


def echo_text(text: TextConfig) -> dict[str, Any]:
    fmt = text_format(text).model_dump(by_alias=True, exclude_none=True)
    return {"format": fmt, "verbosity": text.verbosity or "medium"}


class ReasoningParam(_Model):
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # (deprecated name)


class ResponsesRequest(_Model):
    model: str
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedFunction | dict[str, Any] | None = None
    # `null` is OpenAI's "not given" for these too; the validator below turns it into the default.
    parallel_tool_calls: bool = True
    text: TextConfig = Field(default_factory=TextConfig)
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    user: str | None = None
    store: bool = True
    stream: bool = False
    include: list[str] | None = None
    reasoning: ReasoningParam | None = None
    # Defined by OpenAI, refused here unless off (see the module docstring).
    background: bool | None = None
    conversation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    truncation: Literal["auto", "disabled"] | None = None
    max_tool_calls: int | None = None
    moderation: dict[str, Any] | None = None
    context_management: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in _NULL_MEANS_DEFAULT)}
        return data


_NULL_MEANS_DEFAULT = ("parallel_tool_calls", "text", "store", "stream")


def refuse_unsupported(body: ResponsesRequest) -> None:
    """A 400 for each field we cannot honour, naming it (before any work, before the model check)."""
    refused = {
        "background": body.background,
        "conversation": body.conversation is not None,
        "prompt": body.prompt is not None,
        "top_logprobs": bool(body.top_logprobs),
        "truncation": body.truncation == "auto",
        "max_tool_calls": body.max_tool_calls is not None,
        "moderation": body.moderation is not None,
        "context_management": bool(body.context_management),
    }
    for field, bad in refused.items():
        if bad:
            raise UnsupportedFeature(f"'{field}' is not supported by this server", param=field)
    if "message.output_text.logprobs" in (body.include or ()):
        raise UnsupportedFeature("logprobs are not supported on /v1/responses", param="include")


def function_tools(body: ResponsesRequest) -> list[FunctionTool]:
    tools = []
    for i, raw in enumerate(body.tools or ()):
        kind = raw.get("type")
        if kind != "function":
            what = (
                "a built-in tool OpenAI runs"
                if kind in BUILT_IN_TOOLS
                else "not a tool type this server knows"
            )
            raise UnsupportedFeature(
                f"tools of type '{kind}' are not supported ({what}); this server runs function tools only",
                param=f"tools[{i}].type",
            )
        tools.append(validate_at(FunctionTool, raw, f"tools[{i}]"))
    return tools


def to_generation_request(
    body: ResponsesRequest, tools: list[FunctionTool], messages: list[ChatMessage], *, default_max_tokens: int
) -> GenerationRequest:
    """`messages`: the conversation (earlier turns and this input) as the engine's messages."""
    if body.instructions:
        # Instructions are this request's alone: OpenAI does not carry them over to continuations.
        messages = [ChatMessage("system", body.instructions), *messages]
    return GenerationRequest(
        messages=tuple(messages),
        max_tokens=body.max_output_tokens or default_max_tokens,
        max_tokens_is_default=body.max_output_tokens is None,
        max_tokens_field="max_output_tokens",
        sampling_unset=unset_sampling(temperature=body.temperature, top_p=body.top_p),
        sampling=SamplingParams(
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
        ),
        tools=tuple(
            ToolDefinition(t.name, t.description or "", t.parameters or {"type": "object", "properties": {}})
            for t in tools
        ),
        tool_choice=_tool_choice(body.tool_choice, has_tools=bool(tools)),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body.text),
        reasoning=reasoning_control(body.reasoning.effort if body.reasoning else None),
    )


def _tool_choice(choice: str | NamedFunction | dict[str, Any] | None, *, has_tools: bool) -> ToolChoice:
    if choice is None:
        return ToolChoice("auto" if has_tools else "none")
    if isinstance(choice, NamedFunction):
        return ToolChoice("function", choice.name)
    if isinstance(choice, dict):  # {"type": "file_search"}, {"type": "allowed_tools", …}, {"type": "mcp", …}
        raise UnsupportedFeature(
            f"tool_choice of type '{choice.get('type')}' is not supported; use auto, none, required or "
            '{"type": "function", "name": …}',
            param="tool_choice",
        )
    if choice == "required" and not has_tools:
        raise InvalidRequest("tool_choice 'required' needs tools", param="tool_choice")
    return ToolChoice(choice)  # type: ignore[arg-type]


def echo_tool_choice(choice: str | NamedFunction | dict[str, Any] | None) -> str | dict[str, Any]:
    if isinstance(choice, NamedFunction):
        return {"type": "function", "name": choice.name}
    return choice if isinstance(choice, str) else "auto"


def _response_format(text: TextConfig) -> ResponseFormat:
    fmt = text_format(text)
    if isinstance(fmt, JsonSchemaFormat):
        return ResponseFormat("json_schema", fmt.schema_)
    return ResponseFormat(fmt.type)


_ENGINE_PARAMS = (
    (re.compile(r"^messages\b.*"), "input"),  # message indices count instructions and earlier turns
    (re.compile(r"^tools\[(\d+)\]\.function\."), r"tools[\1]."),
    (re.compile(r"^response_format\.json_schema\.schema$"), "text.format.schema"),
    (re.compile(r"^response_format(\..*)?$"), "text.format"),
    (re.compile(r"^max_tokens$"), "max_output_tokens"),
)


def wire_param(param: str | None) -> str | None:
    """The engine names fields as chat completions has them; say where they are in this request."""
    for pattern, replacement in _ENGINE_PARAMS:
        if param is not None and pattern.match(param):
            return pattern.sub(replacement, param, count=1)
    return param
