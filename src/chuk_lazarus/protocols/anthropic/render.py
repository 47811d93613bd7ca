"""Engine results and events -> Anthropic `message` JSON and its named SSE events.

Streaming and non-streaming render the same blocks in the same order: the model's reasoning as a
`thinking` block (when any) first, then text (when any), then one `tool_use` block per call, so
`messages.stream(...).get_final_message()` equals `messages.create(...)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ...core.ids import random_id
from ...core.types import (
    Event,
    Finish,
    GenerationResult,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)
from ...engine.client import GenerationStream
from ...serving.request_context import prefixed_request_id
from .errors import ERRORS

log = logging.getLogger(__name__)

def message_id() -> str:
    return prefixed_request_id("msg_")


def tool_use_id(engine_id: str) -> str:
    """Anthropic clients expect `toolu_…`; keep the engine's random part so the id stays unique."""
    if engine_id.startswith("toolu_"):
        return engine_id
    return "toolu_" + engine_id.removeprefix("call_") if engine_id else random_id("toolu_")


def thinking_signature(thinking: str) -> str:
    """A thinking block's `signature`: opaque to clients, which send it back unchanged. Here it is a
    digest of the text (nothing is kept secret from the one who runs the model), so the same thinking
    gets the same signature streamed or not."""
    digest = hashlib.sha256(thinking.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest).decode()


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE frame: the event name, then its JSON (whose `type` repeats the name)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def stop_reason(finish: Finish) -> str:
    if finish.reason == "length":
        return "max_tokens"
    if finish.reason == "tool_calls":
        return "tool_use"
    return "stop_sequence" if finish.stop_sequence else "end_turn"


def usage_json(input_tokens: int, output_tokens: int, cached: int = 0) -> dict[str, Any]:
    """Anthropic's usage: `input_tokens` + `cache_read_input_tokens` is the prompt's size. `cached` is
    the part of the prompt read from the prompt cache; a request that marked nothing with
    `cache_control` asked for no caching, so the renderer passes 0 for it (all input counts as input)."""
    return {
        "input_tokens": input_tokens - cached,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "service_tier": "standard",
    }


def asks_for_caching(body: dict[str, Any]) -> bool:
    """Whether any part of a Messages request carries `cache_control` (walked without recursion: a
    body's depth is the client's choice)."""
    stack: list[Any] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("cache_control") is not None:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object Anthropic sends; `{}` for the empty arguments of a no-arg tool."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        log.warning("tool call arguments are not valid JSON; sending an empty input: %r", arguments[:200])
        return {}
    if not isinstance(value, dict):
        log.warning("tool call arguments are not a JSON object; sending an empty input: %r", arguments[:200])
        return {}
    return value


def message_json(*, mid: str, model: str, result: GenerationResult, report_cache: bool = False) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if result.reasoning:
        content.append(
            {"type": "thinking", "thinking": result.reasoning, "signature": thinking_signature(result.reasoning)}
        )
    if result.text:
        content.append({"type": "text", "text": result.text})
    for call in result.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.id),
                "name": call.name,
                "input": tool_input(call.arguments),
            }
        )
    usage = result.finish.usage
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(result.finish),
        "stop_sequence": result.finish.stop_sequence,
        "usage": usage_json(usage.prompt_tokens, usage.completion_tokens, cached_of(usage, report_cache)),
    }


def cached_of(usage: Usage, report_cache: bool) -> int:
    return usage.cached_prompt_tokens if report_cache else 0


@dataclass
class MessageRenderer:
    """One message on the wire: the whole JSON, or its named SSE events in Anthropic's order:

    message_start, (content_block_start, [ping after the first], content_block_delta*,
    content_block_stop)*, message_delta, message_stop.
    """

    model: str
    mid: str = field(default_factory=message_id)
    report_cache: bool = False  # the request used `cache_control`: report prompt-cache reads
    media_type: str = "text/event-stream"
    _open: int | None = None  # index of the block being streamed
    _open_kind: str = ""
    _blocks: int = 0
    _pinged: bool = False
    _tool_blocks: dict[int, int] = field(default_factory=dict)  # engine tool index -> block index
    _thinking: list[str] = field(default_factory=list)  # the open thinking block's text, for its signature

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        return message_json(mid=self.mid, model=self.model, result=results[0], report_cache=self.report_cache)

    def start(self, generation: GenerationStream) -> list[bytes]:
        message: dict[str, Any] = {
            "id": self.mid, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage_json(generation.prompt_tokens, 0),
        }  # fmt: skip
        return [sse("message_start", {"type": "message_start", "message": message})]

    def event(self, index: int, event: Event) -> list[bytes]:
        frames: list[bytes] = []
        if isinstance(event, ReasoningDelta):
            if not event.text:
                return frames
            if self._open_kind != "thinking":
                frames += self._open_block({"type": "thinking", "thinking": "", "signature": ""}, "thinking")
            self._thinking.append(event.text)
            frames.append(self._delta(self._open, {"type": "thinking_delta", "thinking": event.text}))
        elif isinstance(event, TextDelta):
            if not event.text:
                return frames
            if self._open_kind != "text":
                frames += self._open_block({"type": "text", "text": ""}, "text")
            delta = {"type": "text_delta", "text": event.text}
            frames.append(self._delta(self._open, delta))
        elif isinstance(event, ToolCallStart):
            block = {"type": "tool_use", "id": tool_use_id(event.id), "name": event.name, "input": {}}
            frames += self._open_block(block, "tool_use")
            self._tool_blocks[event.index] = self._blocks - 1
        elif isinstance(event, ToolCallArgsDelta):
            if event.fragment:
                block_index = self._tool_blocks[event.index]  # the parsers always start a call first
                frames.append(self._delta(block_index, {"type": "input_json_delta", "partial_json": event.fragment}))
        else:
            frames += self._finish(event)
        return frames

    def done(self) -> list[bytes]:
        return []  # message_stop already ended the message

    def error(self, exc: Exception) -> list[bytes]:
        return [sse("error", ERRORS.body_of(exc))]

    def keepalive(self) -> bytes:
        """Also sent while the model is silent (a long prompt being read), to keep proxies from timing out."""
        self._pinged = True
        return sse("ping", {"type": "ping"})

    def _finish(self, finish: Finish) -> list[bytes]:
        frames = self._close_block()
        if not self._pinged:
            frames.append(self.keepalive())
        usage: Usage = finish.usage
        delta = {"stop_reason": stop_reason(finish), "stop_sequence": finish.stop_sequence}
        frames.append(
            sse("message_delta", {"type": "message_delta", "delta": delta,
                                  "usage": usage_json(usage.prompt_tokens, usage.completion_tokens,
                                                      cached_of(usage, self.report_cache))})
        )  # fmt: skip
        frames.append(sse("message_stop", {"type": "message_stop"}))
        return frames

    # -- internals --------------------------------------------------------------------------------

    def _open_block(self, block: dict[str, Any], kind: str) -> list[bytes]:
        frames = self._close_block()
        index = self._blocks
        self._blocks += 1
        self._open, self._open_kind = index, kind
        frames.append(
            sse(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
            )
        )
        if not self._pinged:
            frames.append(self.keepalive())
        return frames

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        frames = []
        if self._open_kind == "thinking":  # the signature comes last, just before the block's stop
            signature = thinking_signature("".join(self._thinking))
            self._thinking = []
            frames.append(self._delta(self._open, {"type": "signature_delta", "signature": signature}))
        index, self._open, self._open_kind = self._open, None, ""
        return [*frames, sse("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _delta(self, index: int | None, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
