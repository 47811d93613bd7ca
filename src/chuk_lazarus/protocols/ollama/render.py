"""Engine events -> Ollama's JSON objects: NDJSON lines for streams, one object otherwise.

Ollama sends tool-call arguments as a JSON *object*, so a call is held back until its arguments are
complete and then sent whole, in one chunk (as Ollama itself does).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ...core.types import (
    Event,
    Finish,
    GenerationResult,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallStart,
)
from ...engine.client import GenerationStream
from ..logprobs import logprob_items
from .errors import ERRORS

Kind = Literal["chat", "generate"]


def now_iso() -> str:
    """RFC 3339 in UTC with nanosecond-style precision, as Ollama's `created_at`."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ndjson(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def done_reason(finish: Finish) -> str:
    # Ollama reports a turn that ended in tool calls as a plain "stop".
    return "length" if finish.reason == "length" else "stop"


def tool_call_json(call: ToolCall, index: int) -> dict[str, Any] | None:
    """`{"id", "function": {"index", "name", "arguments": {...}}}`, or None if the arguments are not an object."""
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        return None
    if not isinstance(args, dict):
        return None
    return {"id": call.id, "function": {"index": index, "name": call.name, "arguments": args}}


@dataclass
class OllamaRenderer:
    """One chat or generate reply on the wire: the whole object, or its NDJSON lines (all share `model`)."""

    kind: Kind
    model: str
    want_logprobs: bool = False
    started_ns: int = field(default_factory=time.perf_counter_ns)  # the request's arrival
    media_type: str = "application/x-ndjson"
    _calls: dict[int, ToolCallStart] = field(default_factory=dict)
    _args: dict[int, list[str]] = field(default_factory=dict)

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        return self.whole(results[0])

    def start(self, generation: GenerationStream) -> list[bytes]:
        return []

    def event(self, index: int, event: Event) -> list[bytes]:
        return [ndjson(obj) for obj in self.objects(event)]

    def done(self) -> list[bytes]:
        return []  # the `done: true` object already ended the reply

    def error(self, exc: Exception) -> list[bytes]:
        return [ndjson(ERRORS.body_of(exc))]

    def keepalive(self) -> bytes:
        # NDJSON has no comments: an empty, not-done chunk is what clients already take in stride.
        return ndjson(self._base("", done=False))

    def objects(self, event: Event) -> list[dict[str, Any]]:
        """The objects (zero or more) one engine event turns into; the last is the `done` object."""
        if isinstance(event, TextDelta):
            if not event.text and not (self.want_logprobs and event.logprobs):
                return []
            body = self._base(event.text, done=False)
            if self.want_logprobs:
                body["logprobs"] = logprob_items(event.logprobs)
            return [body]
        if isinstance(event, ReasoningDelta):
            return [self._thinking(self._base("", done=False), event.text)] if event.text else []
        if isinstance(event, ToolCallStart):
            out = self._flush_calls()
            self._calls[event.index] = event
            self._args[event.index] = []
            return out
        if isinstance(event, ToolCallArgsDelta):
            self._args.setdefault(event.index, []).append(event.fragment)
            return []
        out = self._flush_calls()
        out.append({**self._base("", done=True), **self.metrics(event)})
        return out

    def metrics(self, finish: Finish) -> dict[str, Any]:
        """Ollama's counters. `load_duration` is the time before the model started on the prompt
        (reading and planning the request, waiting for a sequence): the model itself is always loaded."""
        total = time.perf_counter_ns() - self.started_ns
        timings = finish.timings
        return {
            "done_reason": done_reason(finish),
            "total_duration": total,
            "load_duration": max(0, total - timings.prompt_ns - timings.generation_ns),
            "prompt_eval_count": finish.usage.prompt_tokens,
            "prompt_eval_duration": max(1, timings.prompt_ns),
            "eval_count": finish.usage.completion_tokens,
            "eval_duration": max(1, timings.generation_ns),
        }

    def _base(self, text: str, *, done: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "created_at": now_iso()}
        if self.kind == "chat":
            body["message"] = {"role": "assistant", "content": text}
        else:
            body["response"] = text
        body["done"] = done
        return body

    def _thinking(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """`body` with reasoning text: `message.thinking` in a chat, `thinking` in a generate reply."""
        if self.kind == "chat":
            body["message"]["thinking"] = text
        else:
            body["thinking"] = text
        return body

    def _flush_calls(self) -> list[dict[str, Any]]:
        if not self._calls:
            return []
        calls = [
            ToolCall(head.id, head.name, "".join(self._args.get(i, [])))
            for i, head in sorted(self._calls.items())
        ]
        self._calls.clear()
        self._args.clear()
        return [self._calls_object(calls)]

    def _calls_object(self, calls: list[ToolCall]) -> dict[str, Any]:
        rendered, leftover = self.render_calls(calls)
        body = self._base(leftover, done=False)
        if rendered:
            if self.kind == "chat":
                body["message"]["tool_calls"] = rendered
            else:
                body["tool_calls"] = rendered
        return body

    def render_calls(self, calls: list[ToolCall] | tuple[ToolCall, ...]) -> tuple[list[dict[str, Any]], str]:
        """Calls with object arguments; any whose arguments are not a JSON object stay visible as text."""
        rendered: list[dict[str, Any]] = []
        leftover = []
        for call in calls:
            item = tool_call_json(call, len(rendered))
            if item is None:
                leftover.append(json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False))
            else:
                rendered.append(item)
        return rendered, "\n".join(leftover)

    # -- one object ---------------------------------------------------------------------------------

    def whole(self, result: GenerationResult) -> dict[str, Any]:
        rendered, leftover = self.render_calls(result.tool_calls)
        text = result.text + (("\n" if result.text else "") + leftover if leftover else "")
        body = {**self._base(text, done=True), **self.metrics(result.finish)}
        if result.reasoning:
            self._thinking(body, result.reasoning)
        if rendered:
            if self.kind == "chat":
                body["message"]["tool_calls"] = rendered
            else:
                body["tool_calls"] = rendered
        if self.want_logprobs:
            body["logprobs"] = logprob_items(result.logprobs)
        return body

    def loaded(self, reason: Literal["load", "unload"]) -> dict[str, Any]:
        """The reply to an empty chat/prompt: Ollama's way of (un)loading a model."""
        return {**self._base("", done=True), "done_reason": reason}
