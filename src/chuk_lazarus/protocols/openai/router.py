"""OpenAI routes: `GET /v1/models`, `POST /v1/chat/completions`. Thin: parse, call the engine, render."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ...engine import EventStream, ModelEngine, fold_events
from ...engine.errors import ModelNotFound
from ...engine.types import Event, Finish, GenerationRequest
from ...server.auth import check_api_key
from ...server.body import read_json_object, validate_as
from ...server.disconnect import cancel_on_disconnect
from .errors import error_body
from .render import ChunkWriter, completion_id, completion_json, sse, total_usage
from .schemas import ChatCompletionRequest, to_generation_request

log = logging.getLogger(__name__)


def _auth(request: Request) -> None:
    check_api_key(request)


router = APIRouter(prefix="/v1", dependencies=[Depends(_auth)])


def _engine(request: Request) -> ModelEngine:
    engine: ModelEngine = request.app.state.engine
    return engine


@router.get("/models")
async def list_models(request: Request) -> JSONResponse:
    engine = _engine(request)
    names = [engine.model_name, *engine.aliases]
    created = int(engine.loaded_at)
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": created, "owned_by": "lazarus"} for n in names],
        }
    )


@router.get("/models/{model_id:path}")
async def get_model(request: Request, model_id: str) -> JSONResponse:
    engine = _engine(request)
    if not engine.serves(model_id):
        raise ModelNotFound(
            f"The model '{model_id}' does not exist; this server serves '{engine.model_name}'"
        )
    return JSONResponse(
        {"id": model_id, "object": "model", "created": int(engine.loaded_at), "owned_by": "lazarus"}
    )


@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(ChatCompletionRequest, await read_json_object(request))
    if not engine.serves(body.model):
        raise ModelNotFound(
            f"The model '{body.model}' does not exist; this server serves '{engine.model_name}'",
            param="model",
        )
    generation = to_generation_request(body, default_max_tokens=request.app.state.config.default_max_tokens)
    requests = _per_choice(generation, body.n)
    # Start every choice before answering, so a bad request is a plain HTTP error, not a broken stream.
    streams = await _start_all(engine, requests)
    if body.stream:
        writer = ChunkWriter(
            model=body.model,
            want_logprobs=body.logprobs,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return StreamingResponse(
            _stream_chunks(writer, streams),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        results = await cancel_on_disconnect(request, asyncio.gather(*(fold_events(s) for s in streams)))
    finally:
        for stream in streams:
            await stream.aclose()
    payload = completion_json(
        cid=completion_id(), created=int(time.time()), model=body.model, results=list(results),
        want_logprobs=body.logprobs,
    )  # fmt: skip
    return JSONResponse(payload)


def _per_choice(generation: GenerationRequest, n: int) -> list[GenerationRequest]:
    """n choices are n sequences; with a seed, each gets its own (seed + index) so they differ."""
    if n == 1:
        return [generation]
    out = []
    for i in range(n):
        seed = generation.sampling.seed
        sampling = dataclasses.replace(generation.sampling, seed=None if seed is None else seed + i)
        out.append(dataclasses.replace(generation, sampling=sampling))
    return out


async def _start_all(engine: ModelEngine, requests: list[GenerationRequest]) -> list[EventStream]:
    streams: list[EventStream] = []
    try:
        for req in requests:
            streams.append(await engine.start(req))
    except BaseException:
        for stream in streams:
            await stream.aclose()
        raise
    return streams


async def _stream_chunks(writer: ChunkWriter, streams: list[EventStream]) -> AsyncIterator[bytes]:
    """Interleave the choices' events as they come; on disconnect every sequence is cancelled."""
    queue: asyncio.Queue[tuple[int, Event | Exception | None]] = asyncio.Queue()

    async def pump(index: int, stream: EventStream) -> None:
        try:
            async for event in stream:
                await queue.put((index, event))
        except Exception as exc:  # noqa: BLE001 - delivered in order, then rendered as a stream error
            await queue.put((index, exc))
        finally:
            await queue.put((index, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    usages = []
    try:
        for index in range(len(streams)):
            yield writer.role(index)
        remaining = len(streams)
        while remaining:
            index, item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, Exception):
                log.warning("generation failed mid-stream: %s", item)
                yield sse(error_body(item))
                return
            elif isinstance(item, Finish):
                usages.append(item.usage)
                yield writer.finish(index, item)
            else:
                frame = writer.event(index, item)
                if frame is not None:
                    yield frame
        if writer.include_usage and usages:
            yield writer.usage(total_usage(usages))
        yield sse("[DONE]")
    finally:
        for task in tasks:
            task.cancel()
        for stream in streams:
            await stream.aclose()
