"""The one serving pipeline: every protocol's generation endpoint answers through `respond`.

A protocol supplies a `Renderer` (how events look on its wire) and nothing else. `respond` owns:
  - starting the generation (all `n` choices, planned once) before anything is answered, so an error
    about the request is a plain HTTP error in the protocol's shape;
  - when the 200 is committed: at the first event, or after `keepalive_s` of silence, whichever comes
    first — a failure before any output (a grammar the backend cannot compile) is still a plain error;
  - keepalive frames whenever the model is silent that long (a long prompt, a full queue);
  - the choices interleaved as they are generated (the engine delivers them on one queue);
  - the in-stream error frame for a failure after the 200;
  - cancellation when the client leaves: every unfinished choice is cancelled, streaming or not;
  - the request's record (serving/request_context.py): each choice's `Finish`,
    the choices that never finished, an error after the 200 — for the access line and the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..core.errors import GenerationFailed, LazarusError
from ..core.types import Event, Finish, GenerationRequest, GenerationResult
from ..engine.client import GenerationStream
from .disconnect import cancel_on_disconnect
from .request_context import RequestRecord, error_kind, record_of
from .state import config_of, engine_of

log = logging.getLogger(__name__)

_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Renderer(Protocol):
    """One response in one protocol. Frames are bytes, ready to write (SSE events, NDJSON lines)."""

    media_type: str  # of a streamed response

    def body(self, results: list[GenerationResult]) -> dict[str, Any]:
        """The whole non-streaming answer, one result per choice."""

    def start(self, generation: GenerationStream) -> list[bytes]:
        """Frames before any event (OpenAI's role chunks, Anthropic's message_start)."""

    def event(self, index: int, event: Event) -> list[bytes]:
        """Frames for one event of choice `index`, its `Finish` included."""

    def done(self) -> list[bytes]:
        """Frames after every choice finished (OpenAI's usage chunk and `[DONE]`)."""

    def error(self, exc: Exception) -> list[bytes]:
        """The in-stream error frame(s), after which the stream ends."""

    def keepalive(self) -> bytes:
        """A frame every client of the protocol ignores, sent during long silences."""


async def respond(
    request: Request,
    generation_request: GenerationRequest | Sequence[GenerationRequest],
    renderer: Renderer,
    *,
    stream: bool,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Answer one request; several (a batch of prompts) are answered as one response whose choices
    are numbered request by request (`EngineClient.start_batch`)."""
    engine = engine_of(request)
    record = record_of(request)  # the model it asked for is already noted by the protocol's model check
    if isinstance(generation_request, GenerationRequest):
        generation = await engine.start(generation_request)
    else:
        generation = await engine.start_batch(generation_request)
    if not stream:
        try:
            results = await cancel_on_disconnect(request, generation.results())
        except BaseException:
            if record is not None:
                record.aborted += generation.n
            raise
        finally:
            await generation.aclose()
        if record is not None:
            record.finishes.extend(result.finish for result in results)
        return JSONResponse(renderer.body(results), headers=dict(headers or {}))
    keepalive_s = config_of(request).keepalive_s
    # Nothing is written yet, so a client leaving while this waits (for a slot, for the prompt) is
    # watched for here; an error before the first event propagates as a plain HTTP error.
    try:
        first = await cancel_on_disconnect(request, _first(generation, keepalive_s))
    except BaseException:
        await generation.aclose()
        raise
    return StreamingResponse(
        _frames(renderer, generation, first, keepalive_s, record),
        media_type=renderer.media_type,
        headers={**_STREAM_HEADERS, **(headers or {})},
    )


async def _first(generation: GenerationStream, timeout: float) -> tuple[int, Event] | None:
    try:
        return await generation.next(timeout)
    except StopAsyncIteration:  # no choice at all: nothing to wait for
        return None


async def _frames(
    renderer: Renderer,
    generation: GenerationStream,
    first: tuple[int, Event] | None,
    keepalive_s: float,
    record: RequestRecord | None,
) -> AsyncIterator[bytes]:
    """Every frame of the stream. Leaving early (the client went away: Starlette cancels this
    generator) cancels every unfinished choice in `finally`."""
    finishes: list[Finish] = []
    try:
        for frame in renderer.start(generation):
            yield frame
        item = first  # None: the first wait timed out, so the stream opens with a keepalive
        while True:
            if item is None:
                yield renderer.keepalive()
            else:
                if isinstance(item[1], Finish):
                    finishes.append(item[1])
                for frame in renderer.event(*item):
                    yield frame
            try:
                item = await generation.next(keepalive_s)
            except StopAsyncIteration:
                break
        if len(finishes) < generation.n:  # every accepted request ends one way: never a silent truncation
            raise GenerationFailed("the generation ended without a finish")
        for frame in renderer.done():
            yield frame
    except Exception as exc:
        if isinstance(exc, LazarusError):
            log.warning("generation failed mid-stream: %s", exc)
        else:
            log.error("generation failed mid-stream", exc_info=exc)
        if record is not None:
            record.error = error_kind(exc)
        for frame in renderer.error(exc):
            yield frame
    finally:
        if record is not None:
            record.finishes.extend(finishes)
            record.aborted += generation.n - len(finishes)
        await generation.aclose()

