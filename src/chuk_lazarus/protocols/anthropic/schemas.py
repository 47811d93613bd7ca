"""Anthropic Messages request schemas, and their one conversion into a `GenerationRequest`.

Unknown-field policy (as for OpenAI): fields Anthropic defines that do not change what a local model
generates (`metadata`, `service_tier`, `cache_control`, `citations`, `container`, …) are accepted and
ignored; `thinking` turns a reasoning model's reasoning on (with its budget) or off, as Anthropic
validates it (a budget of at least 1024 tokens, below `max_tokens`); content this text-only model cannot take (images, documents) and Anthropic's
server-side tools are refused with a 400, never silently dropped. Fields Anthropic does not define are
ignored, so clients sending newer fields keep working.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from ...core.errors import InvalidRequest, UnsupportedFeature
from ...core.types import (
    ChatMessage,
    GenerationRequest,
    ReasoningControl,
    ResponseFormat,
    SamplingParams,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    stop_strings,
    unset_sampling,
)
from ...engine.limits import MAX_CONTENT_PARTS


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---- content blocks ----------------------------------------------------------------------------


class TextBlock(_Model):
    type: Literal["text"]
    text: str


class OtherBlock(_Model):
    """Images, documents, server-tool results…: refused on a text-only model."""

    type: str


_BLOCK_TYPES = {"text", "tool_use", "tool_result", "thinking"}


def _tag(value: Any, known: set[str]) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return "other"  # a `type` that is no string at all: the other block's own check refuses it
    if kind == "redacted_thinking":
        kind = "thinking"
    return kind if kind in known else "other"


class ToolUseBlock(_Model):
    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


ResultPart = Annotated[
    Annotated[TextBlock, Tag("text")] | Annotated[OtherBlock, Tag("other")],
    Discriminator(lambda v: _tag(v, {"text"})),
]


class ToolResultBlock(_Model):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: str | list[ResultPart] | None = None
    is_error: bool = False


class ThinkingBlock(_Model):
    """Earlier turns' thinking, as agents send it back: its text reaches templates that show it (a
    redacted block has none)."""

    type: Literal["thinking", "redacted_thinking"]
    thinking: str = ""
    signature: str | None = None


MIN_THINKING_BUDGET = 1024  # Anthropic's own minimum


class ThinkingConfig(_Model):
    """`{"type": "enabled", "budget_tokens": N}`, `{"type": "disabled"}`, or `adaptive` (the model
    decides how much: no budget)."""

    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: int | None = None


Block = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ToolUseBlock, Tag("tool_use")]
    | Annotated[ToolResultBlock, Tag("tool_result")]
    | Annotated[ThinkingBlock, Tag("thinking")]
    | Annotated[OtherBlock, Tag("other")],
    Discriminator(lambda v: _tag(v, _BLOCK_TYPES)),
]


class MessageParam(_Model):
    role: Literal["user", "assistant"]
    content: str | Annotated[list[Block], Field(max_length=MAX_CONTENT_PARTS)]


# ---- tools -------------------------------------------------------------------------------------


class Tool(_Model):
    type: str | None = None  # None or "custom": a client tool; anything else is a server tool
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,128}$")
    description: str = ""
    input_schema: dict[str, Any] | None = None


class ToolChoiceParam(_Model):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class OutputFormat(_Model):
    """Structured outputs: the answer's text is JSON valid against `schema` (enforced by a grammar)."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Model):
    effort: str | None = None  # a reasoning budget: nothing to spend it on here
    format: OutputFormat | None = None


# ---- requests ----------------------------------------------------------------------------------


class CountTokensRequest(_Model):
    model: str
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingConfig | None = None


class MessagesRequest(CountTokensRequest):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    metadata: dict[str, Any] | None = None
    stream: bool = False
    service_tier: str | None = None
    output_config: OutputConfig | None = None
    output_format: OutputFormat | None = (
        None  # the structured-outputs beta's spelling of output_config.format
    )


# ---- conversion --------------------------------------------------------------------------------


def to_generation_request(body: CountTokensRequest) -> GenerationRequest:
    """The engine's request for `body`; a `CountTokensRequest` gives what a real request would render."""
    tools = _tools(body.tools)
    choice, parallel = _tool_choice(body.tool_choice, tools)
    messages = _messages(body.system, body.messages)
    if not isinstance(body, MessagesRequest):
        return GenerationRequest(
            messages=messages, tools=tools, tool_choice=choice, parallel_tool_calls=parallel,
            reasoning=_reasoning(body.thinking, None, None),
        )  # fmt: skip
    return GenerationRequest(
        messages=messages,
        max_tokens=body.max_tokens,
        sampling=SamplingParams(
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            top_k=body.top_k or 0,
        ),
        sampling_unset=unset_sampling(temperature=body.temperature, top_p=body.top_p, top_k=body.top_k),
        stop=stop_strings(body.stop_sequences),
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=_response_format(body),
        reasoning=_reasoning(body.thinking, body.output_config, body.max_tokens),
    )


def _reasoning(
    thinking: ThinkingConfig | None, config: OutputConfig | None, max_tokens: int | None
) -> ReasoningControl:
    """`thinking` as the engine's controls, validated as Anthropic does."""
    effort = config.effort if config is not None else None
    level = {"max": "high", "xhigh": "high"}.get(effort or "", effort)
    level = level if level in ("low", "medium", "high") else None
    if thinking is None:
        return ReasoningControl(effort=level)  # type: ignore[arg-type]
    if thinking.type == "disabled":
        return ReasoningControl(enabled=False)
    budget = None
    if thinking.type == "enabled":
        if thinking.budget_tokens is None:
            raise InvalidRequest("thinking.enabled.budget_tokens: Field required", param="thinking.budget_tokens")
        if thinking.budget_tokens < MIN_THINKING_BUDGET:
            raise InvalidRequest(
                f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}",
                param="thinking.budget_tokens",
            )
        if max_tokens is not None and max_tokens <= thinking.budget_tokens:
            raise InvalidRequest(
                "`max_tokens` must be greater than `thinking.budget_tokens`.", param="max_tokens"
            )
        budget = thinking.budget_tokens
    return ReasoningControl(enabled=True, budget_tokens=budget, effort=level)  # type: ignore[arg-type]


def _response_format(body: MessagesRequest) -> ResponseFormat:
    fmt = (body.output_config.format if body.output_config else None) or body.output_format
    return ResponseFormat("json_schema", fmt.schema_) if fmt else ResponseFormat("text")


def _tools(tools: list[Tool] | None) -> tuple[ToolDefinition, ...]:
    out = []
    for i, tool in enumerate(tools or ()):
        if tool.type not in (None, "custom"):
            raise UnsupportedFeature(
                f"server tool '{tool.type}' is not supported: this server runs client tools only "
                "(give the tool an input_schema)",
                param=f"tools[{i}].type",
            )
        if tool.input_schema is None:
            raise InvalidRequest(f"tools[{i}].input_schema: Field required", param=f"tools[{i}].input_schema")
        if tool.input_schema.get("type") != "object":
            raise InvalidRequest(
                f"tools[{i}].input_schema: the input schema must have type 'object'",
                param=f"tools[{i}].input_schema",
            )
        out.append(ToolDefinition(tool.name, tool.description, tool.input_schema))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise InvalidRequest("tools: tool names must be unique", param="tools")
    return tuple(out)


def _tool_choice(
    choice: ToolChoiceParam | None, tools: tuple[ToolDefinition, ...]
) -> tuple[ToolChoice, bool]:
    if choice is None:
        return ToolChoice("auto" if tools else "none"), True
    parallel = not choice.disable_parallel_tool_use
    if choice.type == "none":
        return ToolChoice("none"), parallel
    if choice.type == "auto":
        return ToolChoice("auto" if tools else "none"), parallel
    if not tools:
        raise InvalidRequest(
            f"tool_choice.type '{choice.type}' requires tools to be given", param="tool_choice"
        )
    if choice.type == "any":
        return ToolChoice("required"), parallel
    if not choice.name:
        raise InvalidRequest(
            "tool_choice.name: Field required for tool_choice.type 'tool'", param="tool_choice.name"
        )
    if choice.name not in {t.name for t in tools}:
        raise InvalidRequest(
            f"tool_choice.name: no tool named '{choice.name}' in tools", param="tool_choice.name"
        )
    return ToolChoice("function", choice.name), parallel


def _system(system: str | list[TextBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "\n\n".join(block.text for block in system) or None


def _messages(system: str | list[TextBlock] | None, messages: list[MessageParam]) -> tuple[ChatMessage, ...]:
    out: list[ChatMessage] = []
    system_text = _system(system)
    if system_text:
        out.append(ChatMessage("system", system_text))
    previous_calls: dict[str, str] = {}  # the tool_use ids (-> names) of the previous assistant turn
    for i, message in enumerate(messages):
        param = f"messages[{i}].content"
        if isinstance(message.content, str):
            out.append(ChatMessage(message.role, message.content))
            previous_calls = {}
            continue
        if message.role == "assistant":
            out.append(_assistant(message.content, param))
            previous_calls = {c.id: c.name for c in out[-1].tool_calls}
        else:
            out.extend(_user(message.content, param, previous_calls))
            previous_calls = {}
    return tuple(out)


def _refuse(block: OtherBlock | ToolUseBlock | ToolResultBlock, param: str) -> UnsupportedFeature:
    if isinstance(block, OtherBlock) and block.type in ("image", "document"):
        message = f"content blocks of type '{block.type}' are not supported: this model takes text only"
    else:
        message = f"content blocks of type '{block.type}' are not supported in this message"
    return UnsupportedFeature(message, param=f"{param}.type")


def _assistant(blocks: list[Any], param: str) -> ChatMessage:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    for j, block in enumerate(blocks):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ThinkingBlock):
            thoughts.append(block.thinking)
        elif isinstance(block, ToolUseBlock):
            calls.append(ToolCall(block.id, block.name, json.dumps(block.input, ensure_ascii=False)))
        else:
            raise _refuse(block, f"{param}[{j}]")
    reasoning = "".join(thoughts) or None
    return ChatMessage("assistant", "".join(texts) or None, tool_calls=tuple(calls), reasoning=reasoning)


def _user(blocks: list[Any], param: str, previous_calls: dict[str, str]) -> list[ChatMessage]:
    results: list[ChatMessage] = []
    texts: list[str] = []
    for j, block in enumerate(blocks):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolResultBlock):
            if block.tool_use_id not in previous_calls:
                raise InvalidRequest(
                    f"{param}[{j}]: unexpected `tool_use_id` found in `tool_result` blocks: {block.tool_use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                    param=f"{param}[{j}].tool_use_id",
                )
            text = _tool_result_text(block, f"{param}[{j}].content")
            results.append(
                ChatMessage(
                    "tool", text, tool_call_id=block.tool_use_id, name=previous_calls[block.tool_use_id]
                )
            )
        elif not isinstance(block, ThinkingBlock):
            raise _refuse(block, f"{param}[{j}]")
    if texts or not results:
        # Results come first: they answer the previous turn; the user's words follow them.
        results.append(ChatMessage("user", "".join(texts)))
    return results


def _tool_result_text(block: ToolResultBlock, param: str) -> str:
    if block.content is None or isinstance(block.content, str):
        text = block.content or ""
    else:
        parts = []
        for k, part in enumerate(block.content):
            if not isinstance(part, TextBlock):
                raise _refuse(part, f"{param}[{k}]")
            parts.append(part.text)
        text = "\n".join(parts)
    # The engine's messages have no error flag; say it in words, the way the model can read it.
    return f"Error: {text}" if block.is_error else text
