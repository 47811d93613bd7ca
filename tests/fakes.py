"""A scripted stand-in for `ModelEngine`, for fast in-process router tests (no model, exact frames).

Each test scripts what the engine does: the events a generation yields, an error raised before any
event (`start_error`), an error raised after some events (`mid_stream_error`), or a generation that
never ends by itself (`hang`, for client-disconnect tests). Every request the router made is recorded
in `requests`, so tests can assert the wire -> engine conversion too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chuk_lazarus.core.embedding import EmbeddingRequest, EmbeddingResult
from chuk_lazarus.core.errors import ContextLengthExceeded
from chuk_lazarus.core.types import (
    Event,
    Finish,
    GenerationRequest,
    GenerationResult,
    LoadStats,
    ModelInfo,
    ReasoningDelta,
    TextDelta,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)
from chuk_lazarus.engine.generation import ResultBuilder

MODEL = "fake-model"


def text_events(
    *pieces: str, reason: str = "stop", prompt_tokens: int = 5, stop_sequence: str | None = None
) -> list[Event]:
    """Events of a plain text answer: one TextDelta per piece, then Finish."""
    events: list[Event] = [TextDelta(p) for p in pieces]
    events.append(Finish(reason, Usage(prompt_tokens, len(pieces)), stop_sequence=stop_sequence))  # type: ignore[arg-type]
    return events


def reasoning_events(
    thoughts: Sequence[str], answer: Sequence[str], *, reason: str = "stop", reasoning_tokens: int | None = None
) -> list[Event]:
    """Events of a reasoning model's answer: ReasoningDeltas, then TextDeltas, then Finish."""
    events: list[Event] = [ReasoningDelta(t) for t in thoughts]
    events += [TextDelta(p) for p in answer]
    spent = len(thoughts) + 2 if reasoning_tokens is None else reasoning_tokens  # + the tags
    usage = Usage(5, spent + len(answer), reasoning_tokens=spent)
    events.append(Finish(reason, usage))  # type: ignore[arg-type]
    return events


def tool_call_events(
    name: str, argument_fragments: Sequence[str], *, call_id: str = "call_test1"
) -> list[Event]:
    """Events of one tool call whose arguments arrive in the given fragments."""
    events: list[Event] = [ToolCallStart(0, call_id, name)]
    events += [ToolCallArgsDelta(0, f) for f in argument_fragments]
    events.append(Finish("tool_calls", Usage(7, len(argument_fragments) + 2)))
    return events


class FakeGeneration:
    """A started request: the scripted events for each of its `n` choices, interleaved choice by choice."""

    def __init__(
        self, events: list[Event], error: Exception | None, *, n: int = 1, hang: bool = False, prompt_tokens: int = 5
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.n = n
        self._items = [(index, event) for event in events for index in range(n)]
        self._error = error
        self._hang = hang
        self.closed = False
        self.waiting = False  # hanging: the router is waiting for an event that will not come
        self.cancelled = False  # hanging: that wait was cancelled (as `Generation` cancels its jobs)

    def __aiter__(self) -> FakeGeneration:
        return self

    async def __anext__(self) -> tuple[int, Event]:
        item = await self.next()
        assert item is not None
        return item

    async def next(self, timeout: float | None = None) -> tuple[int, Event] | None:
        if self._items:
            return self._items.pop(0)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._hang:
            self.waiting = True
            try:
                await asyncio.wait_for(asyncio.Event().wait(), timeout)
            except asyncio.TimeoutError:
                return None  # silence: a stream sends its keepalive and asks again
            except asyncio.CancelledError:
                self.cancelled = True
                await self.aclose()
                raise
        raise StopAsyncIteration

    async def results(self) -> list[GenerationResult]:
        builders = [ResultBuilder() for _ in range(self.n)]
        async for index, event in self:
            builders[index].add(event)
        return [b.result() for b in builders]

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeEngine:
    events: list[Event] = field(default_factory=lambda: text_events("Hello", " world"))
    start_error: Exception | None = None
    mid_stream_error: Exception | None = None
    hang: bool = False  # after `events`, wait forever (until cancelled) instead of ending
    prompt_tokens: int = 5
    model_name: str = MODEL
    aliases: tuple[str, ...] = ()
    sampling_defaults: dict[str, float] = field(default_factory=dict)
    reasoning_format: str = "none"  # "think_tags" etc.: a model that reasons
    requests: list[GenerationRequest] = field(default_factory=list)
    streams: list[FakeGeneration] = field(default_factory=list)  # one per started request
    embed_requests: list[EmbeddingRequest] = field(default_factory=list)
    loaded_at: float = 1_750_000_000.0
    load_duration_ns: int = 1_000_000
    info: ModelInfo = field(
        default_factory=lambda: ModelInfo(
            name=MODEL, path="/models/fake.gguf", backend="fake", context_length=2048, architecture="llama",
            parameter_count=135_000_000, quantization="F16", file_format="gguf",
            chat_template="{{ messages }}", embedding_length=8, pooling="mean",
        )
    )  # fmt: skip

    def serves(self, model: str) -> bool:
        return model == self.model_name or model in self.aliases

    def load_stats(self) -> LoadStats:
        return LoadStats(active=0, queued=0, slots=4, max_queue=64)

    async def start(self, request: GenerationRequest) -> FakeGeneration:
        self.requests.append(request)
        if self.start_error is not None:
            raise self.start_error
        generation = FakeGeneration(
            self.events, self.mid_stream_error, n=request.n, hang=self.hang, prompt_tokens=self.prompt_tokens
        )
        self.streams.append(generation)
        return generation

    async def start_batch(self, requests: Sequence[GenerationRequest]) -> FakeGeneration:
        """Every request's choices in one generation (each runs the scripted events)."""
        self.requests.extend(requests)
        if self.start_error is not None:
            raise self.start_error
        generation = FakeGeneration(
            self.events,
            self.mid_stream_error,
            n=sum(r.n for r in requests),
            hang=self.hang,
            prompt_tokens=self.prompt_tokens * len(requests),
        )
        self.streams.append(generation)
        return generation

    async def count_tokens(self, request: GenerationRequest) -> int:
        self.requests.append(request)
        return self.prompt_tokens

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """Scripted embeddings: input i (text or tokens) -> a unit vector of `info.embedding_length`
        that depends on the input only; one "token" per character or id. The same checks as the engine
        (engine/embedding.py), on a context of `info.context_length` tokens."""
        from chuk_lazarus.engine.embedding import check_embeddable

        self.embed_requests.append(request)
        if self.start_error is not None:
            raise self.start_error
        check_embeddable(self.info, request)
        vectors, tokens = [], 0
        for i, item in enumerate(request.inputs):
            ids = [ord(c) for c in item] if isinstance(item, str) else list(item)
            if len(ids) > self.info.context_length:
                if not request.truncate:
                    raise ContextLengthExceeded(f"input[{i}] is too long", param=f"input[{i}]")
                ids = ids[: self.info.context_length]
            tokens += len(ids)
            vectors.append(fake_vector(ids, self.info.embedding_length))
        return EmbeddingResult(vectors, tokens)
    async def prompt_token_ids(self, request: GenerationRequest) -> list[int]:
        return list(range(self.prompt_tokens))

    # A toy vocabulary: token i is the character chr(i) (ids 0..255).
    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return ([1] if add_special else []) + [ord(c) for c in text]

    def token_pieces(self, tokens: Sequence[int]) -> list[bytes]:
        from chuk_lazarus.core.errors import InvalidRequest

        if any(not 0 <= t < 256 for t in tokens):
            raise InvalidRequest("token not in the vocabulary", param="tokens")
        return [bytes([t]) for t in tokens]

    async def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_pieces(tokens)).decode("latin-1")

    async def aclose(self) -> None:
        pass


def fake_vector(ids: Sequence[int], dims: int) -> list[float]:
    """A unit vector that depends only on `ids` (exact in float32, for base64 round trips)."""
    raw = [float((sum(ids) * (k + 1)) % 7 + 1) for k in range(dims)]
    norm = sum(x * x for x in raw) ** 0.5
    return [float(np.float32(x / norm)) for x in raw]


def make_app(engine: FakeEngine, protocols: Sequence[str] = ("openai",), **kwargs: Any) -> Any:
    from chuk_lazarus.server import create_app

    return create_app(engine, protocols=list(protocols), **kwargs)
