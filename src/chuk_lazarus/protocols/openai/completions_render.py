"""Engine results and events -> OpenAI `text_completion` JSON and its SSE chunks (legacy completions).

Logprobs take the legacy shape: `tokens`, `token_logprobs`, `top_logprobs` (a `{token: logprob}` dict
per token: the `logprobs` best, plus the chosen token as OpenAI always adds it) and `text_offset`
(where each token starts in the choice's returned `text`, so with `echo` the prompt's first token is
at 0). An echoed prompt's first token has no logprob: `null`, and `null` top logprobs, as OpenAI has it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ...core.types import Event, Finish, GenerationResult, TextDelta, TokenLogprob, Usage
from ...engine.client import GenerationStream
from ...serving.request_context import prefixed_request_id
from .errors import ERRORS
from .render import SYSTEM_FINGERPRINT, sse, usage_json


def completion_id() -> str:
    return prefixed_request_id("cmpl-")


def legacy_logprobs(items: tuple[TokenLogprob, ...], offset: int = 0) -> dict[str, Any]:
    """The legacy logprobs object for `items`, whose first token starts at `offset` in the text."""
    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    top_logprobs: list[dict[str, float] | None] = []
    offsets: list[int] = []
    for lp in items:
        tokens.append(lp.token)
        token_logprobs.append(lp.logprob)
        if lp.logprob is None:
            top_logprobs.append(None)
        else:
            top = {token: value for token, value, _ in lp.top}
            top.setdefault(lp.token, lp.logprob)
            top_logprobs.append(top)
        offsets.append(offset)
        offset += len(lp.token)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets}


def batch_usage(results_usage: list[Usage], n: int) -> Usage:
    """Choices come `n` per prompt, each prompt counted once; completions add up."""
    prompts = results_usage[::n]
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in prompts),
        completion_tokens=sum(u.completion_tokens for u in results_usage),
        cached_prompt_tokens=sum(u.cached_prompt_tokens for u in prompts),
    )


@dataclass
class CompletionRenderer:
    """One legacy completion on the wire; choices are numbered prompt by prompt (`n` each)."""

    model: str
    n: int
    want_logprobs: bool
    include_usage: bool = False
    cid: str = field(default_factory=completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    media_type: str = "text/event-stream"
    _usages: dict[int, Usage] = field(default_factory=dict)
    _offsets: dict[int, int] = field(default_factory=dict)  # per choice: characters of text sent so far

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        choices = [
            {
                "text": r.text,
                "index": i,
                "logprobs": legacy_logprobs(r.logprobs) if self.want_logprobs else None,
                "finish_reason": r.finish.reason,
            }
            for i, r in enumerate(results)
        ]
        usage = batch_usage([r.finish.usage for r in results], self.n)
        return {**self._head(), "choices": choices, "usage": usage_json(usage)}

    def start(self, generation: GenerationStream) -> list[bytes]:
        return []  # no role chunks in this API: the first chunk carries text

    def event(self, index: int, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            if not event.text and not event.logprobs:
                return []
            offset = self._offsets.get(index, 0)
            logprobs = legacy_logprobs(event.logprobs, offset) if self.want_logprobs else None
            self._offsets[index] = offset + len(event.text)
            return [self._chunk(index, event.text, logprobs, None)]
        if isinstance(event, Finish):  # (this API has no tool calls: a plain prompt has no tool parser)
            self._usages[index] = event.usage
            return [self._chunk(index, "", None, event.reason)]
        return []

    def done(self) -> list[bytes]:
        frames = []
        if self.include_usage and self._usages:
            usage = batch_usage([self._usages[i] for i in sorted(self._usages)], self.n)
            frames.append(sse({**self._head(), "choices": [], "usage": usage_json(usage)}))
        return [*frames, sse("[DONE]")]

    def error(self, exc: Exception) -> list[bytes]:
        return [sse(ERRORS.body_of(exc)), sse("[DONE]")]

    def keepalive(self) -> bytes:
        return b": keepalive\n\n"

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.cid,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def _chunk(self, index: int, text: str, logprobs: dict[str, Any] | None, finish_reason: str | None) -> bytes:
        choice = {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish_reason}
        body: dict[str, Any] = {**self._head(), "choices": [choice]}
        if self.include_usage:
            body["usage"] = None
        return sse(body)
