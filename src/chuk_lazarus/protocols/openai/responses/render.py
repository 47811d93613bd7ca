"""Engine events -> the Responses API: the `response` object, and its typed SSE events when streamed.

Streamed, the events follow OpenAI's order: `response.created`, `response.in_progress`, then per
output item `output_item.added`, (a message's) `content_part.added`, `output_text.delta`s,
`output_text.done`, `content_part.done`, (a reasoning item's) `content_part.added`,
`reasoning_text.delta`s, `reasoning_text.done`, `content_part.done`, (a call's)
`function_call_arguments.delta`s and `.done`, `output_item.done`, and last `response.completed` (or
`.incomplete`, or `error` + `response.failed`). Every event has the next `sequence_number`. The final
event carries the whole response, built by the same item functions as the non-streaming body, in the
same order (reasoning first, then text, then calls: the call grammar ends the output after the last
call, so no text can follow one).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ....core.ids import random_id
from ....core.types import (
    Event,
    Finish,
    GenerationResult,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)
from ....engine.client import GenerationStream
from ..errors import ERRORS
from .items import Item, call_item, message_item, reasoning_item


def response_id() -> str:
    return random_id("resp_")


def event_frame(event: dict[str, Any]) -> bytes:
    """One SSE event as OpenAI sends Responses events: its type as `event:`, the JSON as `data:`."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_prompt_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


@dataclass(frozen=True)
class Draft:
    """What every rendering of one response shares: its id, creation time, model and echoed settings
    (`instructions`, `tools`, `tool_choice`, `text`, … as the request gave them, or their defaults)."""

    model: str
    settings: dict[str, Any]
    id: str = field(default_factory=response_id)
    created_at: int = field(default_factory=lambda: int(time.time()))

    def response(
        self,
        status: str,
        output: list[Item],
        usage: Usage | None = None,
        *,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "model": self.model,
            "output": output,
            "error": error,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "usage": usage_json(usage) if usage is not None else None,
            **self.settings,
        }


def status_of(finish: Finish) -> str:
    return "incomplete" if finish.reason == "length" else "completed"


def result_output(result: GenerationResult) -> list[Item]:
    """A finished generation's output items. The last item is the one a length cut-off ended."""
    items = []
    if result.reasoning:
        items.append(reasoning_item(random_id("rs_"), result.reasoning, "completed"))
    if result.text or not (result.tool_calls or result.reasoning):
        items.append(message_item(random_id("msg_"), result.text, "completed"))
    items += [call_item(random_id("fc_"), c.id, c.name, c.arguments, "completed") for c in result.tool_calls]
    items[-1]["status"] = status_of(result.finish)
    return items


@dataclass
class ResponsesRenderer:
    """One response on the wire. `on_final(response)` sees the final response object once (to store
    it), whether it completed, stopped at the token limit or failed mid-stream."""

    draft: Draft
    on_final: Callable[[dict[str, Any]], None] = lambda _response: None
    media_type: str = "text/event-stream"
    _sequence: int = 0
    _output: list[Item] = field(default_factory=list)  # streamed items so far, in output order
    _open: int | None = None  # the output index still receiving deltas
    _calls: dict[int, int] = field(default_factory=dict)  # the engine's call index -> output index
    _finish: Finish | None = None

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        (result,) = results  # the Responses API has no `n`
        response = self.draft.response(status_of(result.finish), result_output(result), result.finish.usage)
        self.on_final(response)
        return response

    # -- streaming ----------------------------------------------------------------------------------

    def start(self, generation: GenerationStream) -> list[bytes]:
        snapshot = self.draft.response("in_progress", [])
        return [self._emit("response.created", response=snapshot),
                self._emit("response.in_progress", response=snapshot)]  # fmt: skip

    def event(self, index: int, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            frames = (
                [] if self._open_kind() == "message" else [*self._close("completed"), *self._add_message()]
            )
            assert self._open is not None
            self._output[self._open]["content"][0]["text"] += event.text
            frames.append(self._emit("response.output_text.delta", **self._where(self._open), content_index=0,
                                     delta=event.text, logprobs=[]))  # fmt: skip
            return frames
        if isinstance(event, ReasoningDelta):
            if not event.text:
                return []
            frames = [] if self._open_kind() == "reasoning" else [*self._close("completed"), *self._add_reasoning()]
            assert self._open is not None
            self._output[self._open]["content"][0]["text"] += event.text
            frames.append(self._emit("response.reasoning_text.delta", **self._where(self._open), content_index=0,
                                     delta=event.text))  # fmt: skip
            return frames
        if isinstance(event, ToolCallStart):
            frames = self._close("completed")
            self._calls[event.index] = self._open = len(self._output)
            self._output.append(call_item(random_id("fc_"), event.id, event.name, "", "in_progress"))
            return [*frames, self._added()]
        if isinstance(event, ToolCallArgsDelta):
            at = self._calls[event.index]
            self._output[at]["arguments"] += event.fragment
            return [
                self._emit("response.function_call_arguments.delta", **self._where(at), delta=event.fragment)
            ]
        self._finish = event
        status = status_of(event)
        if not self._output:  # nothing was said: an empty message, as the non-streaming body has
            return [*self._add_message(), *self._close(status)]
        return self._close(status)

    def done(self) -> list[bytes]:
        assert self._finish is not None
        status = status_of(self._finish)
        response = self.draft.response(status, copy.deepcopy(self._output), self._finish.usage)
        self.on_final(response)
        return [self._emit(f"response.{status}", response=response)]

    def error(self, exc: Exception) -> list[bytes]:
        error = ERRORS.body_of(exc)["error"]
        frames = [self._emit("error", code=error["code"], message=error["message"], param=error["param"])]
        response = self.draft.response(
            "failed", copy.deepcopy(self._output), error={"code": "server_error", "message": error["message"]}
        )
        self.on_final(response)
        return [*frames, self._emit("response.failed", response=response)]

    def keepalive(self) -> bytes:
        return b": keepalive\n\n"  # an SSE comment: every SSE parser skips it

    # -- items --------------------------------------------------------------------------------------

    def _open_kind(self) -> str | None:
        return None if self._open is None else str(self._output[self._open]["type"])

    def _add_message(self) -> list[bytes]:
        self._open = len(self._output)
        item = message_item(random_id("msg_"), "", "in_progress")
        part = item["content"].pop()  # the item is announced empty; its part comes next
        self._output.append(item)
        added = self._added()
        item["content"].append(part)
        return [added, self._emit("response.content_part.added", **self._where(self._open), content_index=0,
                                  part=copy.deepcopy(part))]  # fmt: skip

    def _add_reasoning(self) -> list[bytes]:
        self._open = len(self._output)
        item = reasoning_item(random_id("rs_"), "", "in_progress")
        part = item["content"].pop()
        self._output.append(item)
        added = self._added()
        item["content"].append(part)
        return [added, self._emit("response.content_part.added", **self._where(self._open), content_index=0,
                                  part=copy.deepcopy(part))]  # fmt: skip

    def _added(self) -> bytes:
        assert self._open is not None
        return self._emit("response.output_item.added", output_index=self._open,
                          item=copy.deepcopy(self._output[self._open]))  # fmt: skip

    def _close(self, status: str) -> list[bytes]:
        """The done events of the open item, which ends with `status`."""
        at, self._open = self._open, None
        if at is None:
            return []
        item = self._output[at]
        item["status"] = status
        where = self._where(at)
        if item["type"] == "message":
            part = item["content"][0]
            frames = [
                self._emit(
                    "response.output_text.done", **where, content_index=0, text=part["text"], logprobs=[]
                ),
                self._emit("response.content_part.done", **where, content_index=0, part=copy.deepcopy(part)),
            ]
        elif item["type"] == "reasoning":
            part = item["content"][0]
            frames = [
                self._emit("response.reasoning_text.done", **where, content_index=0, text=part["text"]),
                self._emit("response.content_part.done", **where, content_index=0, part=copy.deepcopy(part)),
            ]
        else:
            frames = [self._emit("response.function_call_arguments.done", **where, name=item["name"],
                                 arguments=item["arguments"])]  # fmt: skip
        return [*frames, self._emit("response.output_item.done", output_index=at, item=copy.deepcopy(item))]

    def _where(self, at: int) -> dict[str, Any]:
        return {"item_id": self._output[at]["id"], "output_index": at}

    def _emit(self, kind: str, **fields: Any) -> bytes:
        frame = event_frame({"type": kind, "sequence_number": self._sequence, **fields})
        self._sequence += 1
        return frame
