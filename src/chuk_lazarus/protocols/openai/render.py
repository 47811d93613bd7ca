"""Engine results and events -> OpenAI chat-completion JSON and `chat.completion.chunk` SSE frames."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ...core.types import (
    Event,
    GenerationResult,
    ReasoningDelta,
    TextDelta,
    TokenLogprob,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)
from ...engine.client import GenerationStream
from ...serving.request_context import prefixed_request_id
from ..logprobs import logprob_items
from .errors import ERRORS

SYSTEM_FINGERPRINT = "lazarus"


def completion_id() -> str:
    """`chatcmpl-` and the request's id (its `x-request-id`, or ours), as vLLM does."""
    return prefixed_request_id("chatcmpl-")


def sse(data: dict[str, Any] | str) -> bytes:
    """One Server-Sent Events frame, as OpenAI sends them (`data: …` and a blank line)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def total_usage(usages: list[Usage]) -> Usage:
    """n choices share one prompt: count it once, add up the completions."""
    return Usage(
        prompt_tokens=usages[0].prompt_tokens,
        completion_tokens=sum(u.completion_tokens for u in usages),
        cached_prompt_tokens=usages[0].cached_prompt_tokens,
        reasoning_tokens=sum(u.reasoning_tokens for u in usages),
    )


def reasoning_fields(text: str) -> dict[str, str]:
    """Reasoning under both names clients read: `reasoning_content` (vLLM until 0.10, llama.cpp,
    DeepSeek's API, most clients) and `reasoning` (newer vLLM, OpenRouter)."""
    return {"reasoning_content": text, "reasoning": text}


def logprobs_json(items: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    return {"content": logprob_items(items), "refusal": None}


def completion_json(
    *, cid: str, created: int, model: str, results: list[GenerationResult], want_logprobs: bool
) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        message: dict[str, Any] = {"role": "assistant", "content": result.text or None, "refusal": None}
        if result.reasoning:
            message.update(reasoning_fields(result.reasoning))
        if result.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in result.tool_calls
            ]
        elif not result.text:
            message["content"] = ""  # a plain empty answer is "", not null (null means "see tool_calls")
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": logprobs_json(result.logprobs) if want_logprobs else None,
                "finish_reason": result.finish.reason,
            }
        )
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": usage_json(total_usage([r.finish.usage for r in results])),
    }


@dataclass
class ChatRenderer:
    """One chat completion on the wire: the whole JSON, or its `chat.completion.chunk` SSE frames (all
    choices share id, created and model)."""

    model: str
    want_logprobs: bool
    include_usage: bool = False
    cid: str = field(default_factory=completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    media_type: str = "text/event-stream"
    _usages: list[Usage] = field(default_factory=list)

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        return completion_json(
            cid=self.cid, created=self.created, model=self.model, results=results, want_logprobs=self.want_logprobs
        )

    def start(self, generation: GenerationStream) -> list[bytes]:
        return [self._chunk([_choice(i, {"role": "assistant", "content": ""})]) for i in range(generation.n)]

    def event(self, index: int, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            if not event.text and not event.logprobs:
                return []
            logprobs = logprobs_json(event.logprobs) if self.want_logprobs else None
            return [self._chunk([_choice(index, {"content": event.text}, logprobs=logprobs)])]
        if isinstance(event, ReasoningDelta):
            return [self._chunk([_choice(index, reasoning_fields(event.text))])] if event.text else []
        if isinstance(event, ToolCallStart):
            call = {"index": event.index, "id": event.id, "type": "function",
                    "function": {"name": event.name, "arguments": ""}}  # fmt: skip
            return [self._chunk([_choice(index, {"tool_calls": [call]})])]
        if isinstance(event, ToolCallArgsDelta):
            call = {"index": event.index, "function": {"arguments": event.fragment}}
            return [self._chunk([_choice(index, {"tool_calls": [call]})])]
        self._usages.append(event.usage)
        return [self._chunk([_choice(index, {}, finish_reason=event.reason)])]

    def done(self) -> list[bytes]:
        frames = []
        if self.include_usage and self._usages:
            frames.append(self._chunk([], usage=usage_json(total_usage(self._usages))))
        return [*frames, sse("[DONE]")]

    def error(self, exc: Exception) -> list[bytes]:
        # OpenAI's clients read an `error` object in a data frame as a failure; `[DONE]` still ends
        # the stream, so a client waiting for it does not hang.
        return [sse(ERRORS.body_of(exc)), sse("[DONE]")]

    def keepalive(self) -> bytes:
        return b": keepalive\n\n"  # an SSE comment: every SSE parser skips it

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            body["usage"] = usage
        return sse(body)


def _choice(
    index: int, delta: dict[str, Any], *, logprobs: dict[str, Any] | None = None, finish_reason: str | None = None
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
