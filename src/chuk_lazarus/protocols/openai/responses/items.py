"""Responses input items: parsed from the wire, kept in one normal form, turned into chat messages.

The normal form is what OpenAI lists under `GET /v1/responses/{id}/input_items` (every item with an
`id` and a `status`, content as parts), and it is also what the store keeps, so a conversation
continued by `previous_response_id` goes through the same conversion as one sent in full.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ....core.errors import InvalidRequest, UnsupportedFeature
from ....core.ids import random_id
from ....core.types import ChatMessage, Role, ToolCall

Item = dict[str, Any]
ModelT = TypeVar("ModelT", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Model):
    type: Literal["input_text", "output_text", "text"]
    text: str


class RefusalPart(_Model):
    type: Literal["refusal"]
    refusal: str


class OtherPart(_Model):
    """input_image, input_file, input_audio…: refused, this model reads text only."""

    type: str


Parts = list[TextPart | RefusalPart | OtherPart]


class MessageItem(_Model):
    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "system", "developer", "assistant"]
    content: str | Parts


class FunctionCallItem(_Model):
    type: Literal["function_call"]
    id: str | None = None
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(_Model):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str
    output: str | Parts


class ReasoningText(_Model):
    type: Literal["reasoning_text", "summary_text"]
    text: str


class ReasoningItem(_Model):
    """A reasoning item from an earlier response, sent back by a client managing its own context: its
    text reaches the template with the assistant turn that follows it."""

    type: Literal["reasoning"]
    id: str | None = None
    summary: list[ReasoningText] = []
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None  # OpenAI's: nothing here can read it, so it is dropped


_ITEM_TYPES: dict[str, type[_Model]] = {
    "message": MessageItem,
    "function_call": FunctionCallItem,
    "function_call_output": FunctionCallOutputItem,
    "reasoning": ReasoningItem,
}


def validate_at(model: type[ModelT], raw: Any, prefix: str) -> ModelT:
    """Validate one nested object; the error names the field under `prefix` (`input[2].call_id`)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        # Union branches put their type names in the location ('str', 'list[…]', 'TextPart'): not fields.
        loc = [
            p for p in first["loc"] if isinstance(p, int) or (p.isidentifier() and p.islower() and p != "str")
        ]
        param = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        raise InvalidRequest(f"{param}: {first['msg']}", param=param) from None


def parse_input(value: str | list[dict[str, Any]]) -> list[Item]:
    """The request's `input` in the normal form."""
    if isinstance(value, str):
        return [_message("user", [value], None)]
    items = []
    for i, raw in enumerate(value):
        kind = raw.get("type", "message")
        model = _ITEM_TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise UnsupportedFeature(
                f"input items of type '{kind}' are not supported; send message, function_call, "
                "function_call_output or reasoning items",
                param=f"input[{i}].type",
            )
        items.append(_normal(validate_at(model, raw, f"input[{i}]"), f"input[{i}]"))
    return items


def _normal(item: _Model, param: str) -> Item:
    if isinstance(item, MessageItem):
        return _message(item.role, _texts(item.content, f"{param}.content"), item.id)
    if isinstance(item, FunctionCallItem):
        return call_item(item.id or random_id("fc_"), item.call_id, item.name, item.arguments, "completed")
    if isinstance(item, ReasoningItem):
        texts = item.content if item.content is not None else item.summary  # the full text, else its summary
        return reasoning_item(item.id or random_id("rs_"), "".join(t.text for t in texts), "completed")
    assert isinstance(item, FunctionCallOutputItem)
    output = "".join(_texts(item.output, f"{param}.output"))
    return {"id": item.id or random_id("fco_"), "type": "function_call_output", "call_id": item.call_id,
            "output": output, "status": "completed"}  # fmt: skip


def _texts(content: str | Parts, param: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts = []
    for i, part in enumerate(content):
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)
        else:
            raise UnsupportedFeature(
                f"content parts of type '{part.type}' are not supported: this model takes text only",
                param=f"{param}[{i}].type",
            )
    return texts


def _message(role: str, texts: list[str], item_id: str | None) -> Item:
    if role == "assistant":
        return message_item(item_id or random_id("msg_"), "".join(texts), "completed")
    parts = [{"type": "input_text", "text": t} for t in texts]
    return {"id": item_id or random_id("msg_"), "type": "message", "role": role, "status": "completed",
            "content": parts}  # fmt: skip


def message_item(item_id: str, text: str, status: str) -> Item:
    """An assistant message as the Responses API writes it (in output, and in input once stored)."""
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


def reasoning_item(item_id: str, text: str, status: str) -> Item:
    """The model's reasoning as an output item: its full text as one `reasoning_text` part (a local
    model's reasoning is not secret, so there is no summary and no encrypted content)."""
    content = [{"type": "reasoning_text", "text": text}]
    return {"id": item_id, "type": "reasoning", "summary": [], "content": content, "status": status}


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> Item:
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}  # fmt: skip


def to_messages(items: Sequence[Item]) -> list[ChatMessage]:
    """Items in the normal form as chat messages: a run of function calls joins the assistant turn
    before it (chat puts a turn's text and calls in one message), and each output names its call's
    function, which tool templates show."""
    messages: list[ChatMessage] = []
    names: dict[str, str] = {}
    reasoning: str | None = None  # a reasoning item's text, for the assistant turn after it
    for item in items:
        kind = item["type"]
        if kind == "reasoning":
            reasoning = "".join(p.get("text", "") for p in item["content"] or ()) or None
        elif kind == "message":
            text = "".join(p.get("text", "") for p in item["content"])
            role: Role = "system" if item["role"] in ("system", "developer") else item["role"]
            thought = reasoning if role == "assistant" else None
            messages.append(ChatMessage(role, text, reasoning=thought))
            reasoning = None
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            call = ToolCall(item["call_id"], item["name"], item["arguments"])
            if messages and messages[-1].role == "assistant" and reasoning is None:
                last = messages[-1]
                messages[-1] = dataclasses.replace(last, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(ChatMessage("assistant", None, tool_calls=(call,), reasoning=reasoning))
            reasoning = None
        else:
            call_id = item["call_id"]
            messages.append(
                ChatMessage("tool", item["output"], tool_call_id=call_id, name=names.get(call_id))
            )
    return messages
