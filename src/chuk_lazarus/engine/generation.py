"""One started request's events, every choice's on one queue, and the fold that makes them a result.

The backend thread posts `(choice index, event or error)` onto the request's single asyncio queue (see
`sink.py`), so a streamed token reaches its protocol's renderer in one hop, and `n` choices arrive
interleaved in the order they were generated without a pump task per choice.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Union

from ..backends.base import Backend, BackendJob
from ..core.errors import GenerationFailed
from ..core.types import (
    Event,
    Finish,
    GenerationResult,
    ReasoningDelta,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallStart,
)

Posted = Union[Event, Exception]


class Generation:
    """Iterate it for `(index, event)` until every choice has finished; an error from any choice is
    raised where it happened. `aclose()` (or leaving early) cancels every unfinished choice, so the
    backend frees their sequences within one step."""

    def __init__(
        self,
        backend: Backend,
        jobs: Sequence[BackendJob],
        queue: asyncio.Queue[tuple[int, Posted]],
        prompt_tokens: int,
    ) -> None:
        self.prompt_tokens = prompt_tokens  # for a protocol's first frame (Anthropic's message_start)
        self._backend = backend
        self._jobs = list(jobs)
        self._queue = queue
        self._open = set(range(len(jobs)))

    @property
    def n(self) -> int:
        return len(self._jobs)

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> tuple[int, Event]:
        got = await self.next()
        assert got is not None  # no timeout, so never None
        return got

    async def next(self, timeout: float | None = None) -> tuple[int, Event] | None:
        """The next `(index, event)`, or None when nothing came within `timeout` seconds (the
        generation goes on: a stream sends a keepalive and asks again). Raises StopAsyncIteration once
        every choice has finished."""
        if not self._open:
            raise StopAsyncIteration
        try:
            index, item = self._queue.get_nowait()  # the common case while tokens flow: no waiting
        except asyncio.QueueEmpty:
            try:
                index, item = await _get_within(self._queue, timeout)
            except asyncio.TimeoutError:
                return None
            except BaseException:  # the consumer was cancelled (its client left): free the sequences
                await self.aclose()
                raise
        if isinstance(item, Exception):
            await self.aclose()
            raise item
        if isinstance(item, Finish):
            self._open.discard(index)
        return index, item

    async def results(self) -> list[GenerationResult]:
        """Every choice folded, in index order (what a non-streaming response renders)."""
        builders = [ResultBuilder() for _ in self._jobs]
        async for index, event in self:
            builders[index].add(event)
        return [b.result() for b in builders]

    async def aclose(self) -> None:
        for index in self._open:
            self._backend.cancel(self._jobs[index])
        self._open.clear()


async def _get_within(queue: asyncio.Queue[tuple[int, Posted]], timeout: float | None) -> tuple[int, Posted]:
    if timeout is None:
        return await queue.get()
    if sys.version_info >= (3, 11):
        # A timer on this task, not a task per get: this runs once per streamed token.
        async with asyncio.timeout(timeout):
            return await queue.get()
    return await asyncio.wait_for(queue.get(), timeout)  # (a cancelled get leaves its item queued)


class ResultBuilder:
    """Folds one choice's events into a `GenerationResult`: streaming and non-streaming cannot disagree."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.logprobs: list[TokenLogprob] = []
        self.heads: dict[int, ToolCallStart] = {}
        self.args: dict[int, list[str]] = {}
        self.finish: Finish | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
            self.logprobs.extend(event.logprobs)
        elif isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, ToolCallStart):
            self.heads[event.index] = event
            self.args[event.index] = []
        elif isinstance(event, ToolCallArgsDelta):
            self.args[event.index].append(event.fragment)
        else:
            self.finish = event

    def result(self) -> GenerationResult:
        if self.finish is None:
            raise GenerationFailed("the generation ended without a finish event")
        calls = tuple(
            ToolCall(id=head.id, name=head.name, arguments="".join(self.args[i]))
            for i, head in sorted(self.heads.items())
        )
        return GenerationResult(
            "".join(self.text), calls, self.finish, tuple(self.logprobs), reasoning="".join(self.reasoning)
        )


async def fold_events(events: AsyncIterator[Event]) -> GenerationResult:
    """The result of one choice's event stream (`ModelEngine.astream`)."""
    builder = ResultBuilder()
    async for event in events:
        builder.add(event)
        if isinstance(event, Finish):
            break
    return builder.result()
