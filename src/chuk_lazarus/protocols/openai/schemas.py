"""OpenAI chat-completions request schema, and its one conversion into a `GenerationRequest`.

Unknown-field policy: fields OpenAI defines but that do not change what we generate (`store`,
`metadata`, `service_tier`, `user`, …) are accepted and ignored; fields that would change the output
and that we cannot honour (audio output, images on a text-only model) are refused with a 400, never
silently dropped. Fields OpenAI does not define are ignored, as most OpenAI-compatible servers do, so
that clients sending vendor extensions keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

MAX_N = 8
MAX_STOP = 4


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Model):
    type: Literal["text"]
    text: str


class OtherPart(_Model):
    """Any non-text content part (image_url, input_audio, file): refused on a text-only model."""

    type: str


Content = Union[str, Annotated[list[TextPart | OtherPart], Field(max_length=MAX_CONTENT_PARTS)]]


def content_text(content: Content | None, *, param: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if isinstance(part, TextPart):
            texts.append(part.text)
        else:
            raise UnsupportedFeature(
                f"content parts of type '{part.type}' are not supported: this model takes text only",
                param=f"{param}[{i}].type",
            )
    return "".join(texts)


class FunctionCall(_Model):
    name: str
    arguments: str = ""


class ToolCallIn(_Model):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(_Model):
    role: Literal["system", "developer"]
    content: Content
    name: str | None = None


class UserMessage(_Model):
    role: Literal["user"]
    content: Content
    name: str | None = None


class AssistantMessage(_Model):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCallIn] | None = None
    name: str | None = None
    # The turn's reasoning as OpenAI-compatible servers return it (vLLM, llama.cpp, DeepSeek:
    # `reasoning_content`; newer vLLM and OpenRouter: `reasoning`), sent back by agents.
    reasoning_content: str | None = None
    reasoning: str | None = None


class ToolMessage(_Model):
    role: Literal["tool"]
    content: Content
    tool_call_id: str


Message = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


class FunctionDef(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-.]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class Tool(_Model):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(_Model):
    name: str


class NamedToolChoice(_Model):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaSpec(_Model):
    name: str = "response"
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormatIn(_Model):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


# OpenAI's effort levels; "none" and "minimal" turn reasoning off, the two above "high" are "high".
Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class ReasoningConfig(_Model):
    """OpenRouter's `reasoning` object, which several OpenAI clients send: a budget in tokens too."""

    effort: Effort | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    enabled: bool | None = None


class StreamOptions(_Model):
    include_usage: bool = False


class ChatCompletionRequest(_Model):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    response_format: ResponseFormatIn | None = None
    grammar: str | None = None  # llama-server's extension: a GBNF grammar the output must match
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    reasoning_effort: Effort | None = None
    reasoning: ReasoningConfig | None = None
    # Extra variables for the chat template (vLLM's and llama.cpp's `chat_template_kwargs`).
    chat_template_kwargs: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stop_limit(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences are allowed, got {len(value)}")
        return value


def to_generation_request(body: ChatCompletionRequest, *, default_max_tokens: int) -> GenerationRequest:
    if body.audio is not None or (body.modalities and set(body.modalities) - {"text"}):
        raise UnsupportedFeature("only text output is supported", param="modalities")
    if body.top_logprobs is not None and not body.logprobs:
        raise InvalidRequest("top_logprobs requires logprobs to be true", param="top_logprobs")
    return GenerationRequest(
        messages=tuple(_message(m, f"messages[{i}]") for i, m in enumerate(body.messages)),
        max_tokens=body.max_completion_tokens or body.max_tokens or default_max_tokens,
        max_tokens_is_default=body.max_completion_tokens is None and body.max_tokens is None,
        max_tokens_field="max_completion_tokens" if body.max_completion_tokens else "max_tokens",
        sampling_unset=unset_sampling(temperature=body.temperature, top_p=body.top_p),
        sampling=SamplingParams(
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
            logit_bias=_logit_bias(body.logit_bias),
        ),
        stop=stop_strings(body.stop),
        tools=tuple(
            ToolDefinition(t.function.name, t.function.description, t.function.parameters, bool(t.function.strict))
            for t in body.tools or ()
        ),
        tool_choice=_tool_choice(body),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body.response_format),
        grammar=body.grammar,
        logprobs=(body.top_logprobs or 0) if body.logprobs else None,
        n=body.n,
        reasoning=reasoning_control(body.reasoning_effort, body.reasoning),
        template_kwargs=dict(body.chat_template_kwargs or {}),
    )


def reasoning_control(effort: str | None, config: ReasoningConfig | None = None) -> ReasoningControl:
    """`reasoning_effort` (and OpenRouter's `reasoning`) as the engine's controls."""
    if config is not None and config.effort is not None:
        effort = config.effort
    enabled = config.enabled if config is not None else None
    if effort in ("none", "minimal"):
        enabled = False
    level = {"xhigh": "high", "max": "high"}.get(effort or "", effort)
    return ReasoningControl(
        enabled=enabled,
        budget_tokens=config.max_tokens if config is not None else None,
        effort=level if level in ("low", "medium", "high") else None,  # type: ignore[arg-type]
    )


def _message(message: Any, param: str) -> ChatMessage:
    text = content_text(message.content, param=f"{param}.content")
    if isinstance(message, SystemMessage):
        return ChatMessage("system", text)
    if isinstance(message, UserMessage):
        return ChatMessage("user", text)
    if isinstance(message, AssistantMessage):
        calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ())
        reasoning = message.reasoning_content if message.reasoning_content is not None else message.reasoning
        return ChatMessage("assistant", text, tool_calls=calls, reasoning=reasoning or None)
    return ChatMessage("tool", text, tool_call_id=message.tool_call_id)


def _logit_bias(bias: dict[str, float] | None) -> dict[int, float]:
    out = {}
    for key, value in (bias or {}).items():
        if not key.lstrip("-").isdigit() or int(key) < 0:
            raise InvalidRequest(f"logit_bias keys must be token ids, got '{key}'", param="logit_bias")
        out[int(key)] = value
    return out


def _tool_choice(body: ChatCompletionRequest) -> ToolChoice:
    choice = body.tool_choice
    if choice is None:
        return ToolChoice("auto" if body.tools else "none")
    if isinstance(choice, NamedToolChoice):
        return ToolChoice("function", choice.function.name)
    if choice in ("required",) and not body.tools:
        raise InvalidRequest("tool_choice 'required' needs tools", param="tool_choice")
    return ToolChoice(choice)


def _response_format(fmt: ResponseFormatIn | None) -> ResponseFormat:
    if fmt is None or fmt.type == "text":
        return ResponseFormat("text")
    if fmt.type == "json_object":
        return ResponseFormat("json_object")
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise InvalidRequest("response_format of type json_schema needs json_schema.schema", param="response_format")
    return ResponseFormat("json_schema", fmt.json_schema.schema_, strict=bool(fmt.json_schema.strict))
