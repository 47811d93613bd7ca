"""Ollama `/api/chat` and `/api/generate` request schemas, and their one conversion into a `GenerationRequest`.

Unknown-field policy, as Ollama has it: unknown top-level fields and unknown `options` are ignored
(Ollama logs and drops them). Load-time options (`num_ctx`, `num_gpu`, `num_thread`, …) are accepted and
ignored, because the one model here is loaded once. Fields that would change *what* is generated and
that we cannot honour (images on a text-only model, a Go `template`, `suffix`, the deprecated
`context`) are refused with a 400, never silently dropped. `keep_alive` is accepted: the model stays
loaded regardless. `think` turns a reasoning model's thinking on or off (a level is its effort); sent
to a model that cannot think, it is Ollama's 400 (router.py).
"""

from __future__ import annotations

import json
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ...core.errors import InvalidRequest, UnsupportedFeature
from ...core.ids import new_call_id
from ...core.jsondepth import loads_bounded
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

# Ollama's own defaults (api.DefaultOptions), used when a request leaves an option out.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.9
DEFAULT_TOP_K = 40
DEFAULT_REPEAT_PENALTY = 1.1


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        # Ollama is written in Go: a JSON null is the field's zero value, so treat it as absent.
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


class Options(_Model):
    """The runtime options we map; the rest of Ollama's options are accepted and ignored."""

    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    num_predict: int | None = None  # <= 0: no limit but the context window (-1 and -2 in Ollama)
    stop: str | list[str] | None = None
    seed: int | None = None
    num_ctx: int | None = Field(default=None, ge=1)  # load-time: the model keeps its context (see router)
    repeat_penalty: float | None = Field(default=None, ge=0.0)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


class FunctionCallIn(_Model):
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ToolCallIn(_Model):
    id: str | None = None
    function: FunctionCallIn


class Message(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = ""
    images: list[str] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    thinking: str | None = None  # an assistant turn's reasoning, sent back: for templates that show it


class FunctionDef(_Model):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = ""
    parameters: dict[str, Any] | None = None


class Tool(_Model):
    type: Literal["function"] = "function"
    function: FunctionDef


Format = Union[Literal["", "json"], dict[str, Any], None]


class _GenerationBase(_Model):
    model: str = ""
    stream: bool = True
    options: Options | None = None
    format: Format = None
    keep_alive: int | float | str | None = None
    think: bool | Literal["low", "medium", "high"] | None = None
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)

    @field_validator("options", mode="before")
    @classmethod
    def _null_options(cls, value: Any) -> Any:
        return None if value == {} else value


class ChatRequest(_GenerationBase):
    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] | None = None


class GenerateRequest(_GenerationBase):
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    images: list[str] | None = None


class ModelRequest(_Model):
    """`/api/show`, `/api/delete`, `/api/pull`, `/api/push`: `model`, or the older `name`."""

    model: str = ""
    name: str = ""
    verbose: bool = False
    stream: bool = True

    @property
    def target(self) -> str:
        return self.model or self.name


class CopyRequest(_Model):
    source: str = ""
    destination: str = ""


# ---- conversion -----------------------------------------------------------------------------------


def chat_to_generation(body: ChatRequest, *, default_max_tokens: int) -> GenerationRequest:
    messages = _messages(body.messages)
    tools = tuple(_tool(t) for t in body.tools or ())
    return GenerationRequest(
        messages=messages,
        tools=tools,
        tool_choice=ToolChoice("auto" if tools else "none"),
        **_common(body, default_max_tokens),
    )


def generate_to_generation(body: GenerateRequest, *, default_max_tokens: int) -> GenerationRequest:
    if body.images:
        raise _images_refused("images")
    if body.suffix:
        raise UnsupportedFeature(
            f"model '{body.model}' does not support insert: `suffix` (fill-in-the-middle) needs a model "
            "trained for it", param="suffix",
        )  # fmt: skip
    if body.template:
        raise UnsupportedFeature(
            "`template` (an Ollama Go template) is not supported: this server renders the model's own chat "
            "template; send `raw: true` with a fully formatted prompt instead", param="template",
        )  # fmt: skip
    if body.context:
        raise UnsupportedFeature(
            "the deprecated `context` field is not supported; use /api/chat to continue a conversation",
            param="context",
        )
    if body.raw:
        if body.system:
            raise InvalidRequest("raw mode does not support template, system, or context", param="system")
        return GenerationRequest(prompt=body.prompt, **_common(body, default_max_tokens))
    messages = [ChatMessage("system", body.system)] if body.system else []
    messages.append(ChatMessage("user", body.prompt))
    return GenerationRequest(messages=tuple(messages), **_common(body, default_max_tokens))


def _common(body: _GenerationBase, default_max_tokens: int) -> dict[str, Any]:
    opts = body.options or Options()
    if opts.num_predict is None:
        max_tokens: int | None = default_max_tokens
    else:
        max_tokens = opts.num_predict if opts.num_predict > 0 else None
    return {
        "max_tokens": max_tokens,
        "max_tokens_is_default": opts.num_predict is None,
        "max_tokens_field": "num_predict",
        "sampling": SamplingParams(
            temperature=DEFAULT_TEMPERATURE if opts.temperature is None else opts.temperature,
            top_p=DEFAULT_TOP_P if opts.top_p is None else opts.top_p,
            top_k=DEFAULT_TOP_K if opts.top_k is None else opts.top_k,
            min_p=opts.min_p or 0.0,
            seed=opts.seed if opts.seed is None or opts.seed >= 0 else None,  # Ollama: -1 means random
            presence_penalty=opts.presence_penalty or 0.0,
            frequency_penalty=opts.frequency_penalty or 0.0,
            repeat_penalty=DEFAULT_REPEAT_PENALTY if opts.repeat_penalty is None else opts.repeat_penalty,
        ),
        "sampling_unset": unset_sampling(temperature=opts.temperature, top_p=opts.top_p, top_k=opts.top_k,
                                         min_p=opts.min_p, repeat_penalty=opts.repeat_penalty),
        "stop": stop_strings(opts.stop),
        "response_format": _format(body.format),
        "logprobs": body.top_logprobs if body.logprobs else None,
        "reasoning": _reasoning(body.think),
    }


def _reasoning(think: bool | str | None) -> ReasoningControl:
    if think is None:
        return ReasoningControl()
    if isinstance(think, bool):
        return ReasoningControl(enabled=think)
    return ReasoningControl(enabled=True, effort=think)  # type: ignore[arg-type]


def _format(fmt: Format) -> ResponseFormat:
    if fmt is None or fmt == "":
        return ResponseFormat("text")
    if fmt == "json":
        return ResponseFormat("json_object")
    if isinstance(fmt, dict):
        return ResponseFormat("json_schema", fmt)
    raise InvalidRequest(f"invalid format: {fmt!r}; expected \"json\" or a JSON schema object", param="format")


def _images_refused(param: str) -> UnsupportedFeature:
    return UnsupportedFeature(
        "this model does not support image input: it takes text only (send messages without `images`)",
        param=param,
    )


def _tool(tool: Tool) -> ToolDefinition:
    fn = tool.function
    parameters = fn.parameters or {"type": "object", "properties": {}}
    # The ollama client sends `"$defs": null` and similar empty keys; drop them before the grammar sees them.
    parameters = {k: v for k, v in parameters.items() if v is not None}
    return ToolDefinition(fn.name, fn.description or "", parameters)


def _messages(messages: list[Message]) -> tuple[ChatMessage, ...]:
    out: list[ChatMessage] = []
    pending: dict[str, list[str]] = {}  # tool name -> ids of calls not yet answered, oldest first
    for i, m in enumerate(messages):
        if m.images:
            raise _images_refused(f"messages[{i}].images")
        content = m.content or ""
        if m.role == "assistant":
            calls = tuple(_call(c, f"messages[{i}].tool_calls[{j}]") for j, c in enumerate(m.tool_calls or ()))
            for call in calls:
                pending.setdefault(call.name, []).append(call.id)
            out.append(
                ChatMessage("assistant", content or (None if calls else ""), tool_calls=calls, reasoning=m.thinking or None)
            )
        elif m.role == "tool":
            # Ollama names the tool, not the call: answer the oldest open call of that name.
            call_id = m.tool_call_id
            if call_id is None and m.tool_name and pending.get(m.tool_name):
                call_id = pending[m.tool_name].pop(0)
            out.append(ChatMessage("tool", content, tool_call_id=call_id, name=m.tool_name))
        else:
            out.append(ChatMessage(m.role, content))
    return tuple(out)


def _call(call: ToolCallIn, param: str) -> ToolCall:
    args = call.function.arguments
    if isinstance(args, str):
        try:
            args = loads_bounded(args) if args.strip() else {}
        except (ValueError, RecursionError):
            raise InvalidRequest("tool call arguments must be a JSON object", param=param) from None
    return ToolCall(call.id or new_call_id(), call.function.name, json.dumps(args, ensure_ascii=False))

