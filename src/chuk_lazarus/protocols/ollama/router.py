"""Ollama routes: `/`, `/api/version`, `/api/tags`, `/api/show`, `/api/ps`, `/api/chat`, `/api/generate`,
and honest refusals for what a one-model server cannot do (embeddings, pull, create, copy, delete, push).
Thin: parse, call the engine, render."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ... import __version__
from ...engine import EventStream, ModelEngine, fold_events
from ...engine.errors import LazarusError, ModelNotFound, NotFound, UnsupportedFeature
from ...engine.types import Event, GenerationRequest
from ...server.auth import check_api_key
from ...server.body import read_json_object, validate_as
from ...server.disconnect import cancel_on_disconnect
from . import models
from .errors import error_body
from .render import Stopwatch, Writer, ndjson
from .schemas import (
    ChatRequest,
    CopyRequest,
    EmbedRequest,
    GenerateRequest,
    ModelRequest,
    chat_to_generation,
    generate_to_generation,
)

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_ZERO_DURATION = re.compile(r"^\s*[-+]?0*(\.0*)?\s*(ns|us|µs|ms|s|m|h)?\s*$")


def _auth(request: Request) -> None:
    check_api_key(request)


router = APIRouter(dependencies=[Depends(_auth)])


def _engine(request: Request) -> ModelEngine:
    engine: ModelEngine = request.app.state.engine
    return engine


def _default_max_tokens(request: Request) -> int:
    value: int = request.app.state.config.default_max_tokens
    return value


# ---- discovery ------------------------------------------------------------------------------------


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> Response:
    return PlainTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version() -> JSONResponse:
    return JSONResponse({"version": models.OLLAMA_COMPAT_VERSION, "lazarus_version": __version__})


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> JSONResponse:
    return JSONResponse({"models": [models.tags_entry(_engine(request))]})


@router.get("/api/ps")
async def ps(request: Request) -> JSONResponse:
    return JSONResponse({"models": [models.ps_entry(_engine(request))]})


@router.post("/api/show")
async def show(request: Request) -> JSONResponse:
    engine = _engine(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    return JSONResponse(models.show(engine))


# ---- generation -----------------------------------------------------------------------------------


@router.post("/api/chat")
async def chat(request: Request) -> Response:
    clock = Stopwatch()
    engine = _engine(request)
    body = validate_as(ChatRequest, await read_json_object(request))
    models.check_model(engine, body.model)
    writer = Writer("chat", body.model, clock, want_logprobs=body.logprobs)
    generation = chat_to_generation(body, default_max_tokens=_default_max_tokens(request))
    if not body.messages:
        return JSONResponse(writer.loaded("unload" if _is_zero(body.keep_alive) else "load"))
    return await _respond(request, engine, generation, writer, stream=body.stream)


@router.post("/api/generate")
async def generate(request: Request) -> Response:
    clock = Stopwatch()
    engine = _engine(request)
    body = validate_as(GenerateRequest, await read_json_object(request))
    models.check_model(engine, body.model)
    writer = Writer("generate", body.model, clock, want_logprobs=body.logprobs)
    generation = generate_to_generation(body, default_max_tokens=_default_max_tokens(request))
    if not body.prompt:
        return JSONResponse(writer.loaded("unload" if _is_zero(body.keep_alive) else "load"))
    return await _respond(request, engine, generation, writer, stream=body.stream)


async def _respond(
    request: Request, engine: ModelEngine, generation: GenerationRequest, writer: Writer, *, stream: bool
) -> Response:
    # Start before answering, so a bad request is a plain HTTP error rather than a broken stream.
    events = await engine.start(generation)
    writer.clock.accepted()
    if stream:
        # Like Ollama, decide the status at the first object: a failure before any output (a grammar
        # that does not compile, a backend error) is still a plain HTTP error, not a 200 with an error line.
        # Until then nothing is written, so a client leaving while this waits for a slot is watched for.
        try:
            first: Event | None = await cancel_on_disconnect(request, events.__anext__())
        except StopAsyncIteration:
            first = None
        except BaseException:
            await events.aclose()
            raise
        return StreamingResponse(_lines(writer, events, first), media_type=NDJSON, headers=_STREAM_HEADERS)
    try:
        result = await cancel_on_disconnect(request, fold_events(events))
    finally:
        await events.aclose()
    return JSONResponse(writer.whole(result))


async def _lines(writer: Writer, events: EventStream, first: Event | None) -> AsyncIterator[bytes]:
    """One NDJSON object per line; a failure after the first line is a final `{"error": …}` line."""
    try:
        if first is not None:
            for obj in writer.event(first):
                yield ndjson(obj)
        async for event in events:
            for obj in writer.event(event):
                yield ndjson(obj)
    except Exception as exc:
        if isinstance(exc, LazarusError):
            log.warning("generation failed mid-stream: %s", exc)
        else:
            log.error("generation failed mid-stream", exc_info=exc)
        yield ndjson(error_body(exc))
    finally:
        await events.aclose()


def _is_zero(keep_alive: Any) -> bool:
    if isinstance(keep_alive, bool) or keep_alive is None:
        return False
    if isinstance(keep_alive, (int, float)):
        return keep_alive == 0
    return bool(_ZERO_DURATION.match(str(keep_alive)))


# ---- what a one-model server does not do ----------------------------------------------------------


@router.post("/api/embed")
@router.post("/api/embeddings")
async def embed(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(EmbedRequest, await read_json_object(request))
    models.check_model(engine, body.model)
    raise UnsupportedFeature(
        f"model '{body.model}' does not support embeddings: this server serves one text-generation model; "
        "use an embedding model server for /api/embed",
        param="model",
    )


@router.post("/api/pull")
async def pull(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    target = body.target
    if target and models.is_served(engine, target):
        # Already here: what Ollama answers for a model that is up to date.
        if not body.stream:
            return JSONResponse({"status": "success"})
        lines = [{"status": "pulling manifest"}, {"status": "success"}]
        return Response(b"".join(ndjson(x) for x in lines), media_type=NDJSON)
    models.check_name(target)
    raise UnsupportedFeature(_one_model(engine, f"cannot pull '{target}'"), param="model")


@router.post("/api/push")
async def push(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    raise UnsupportedFeature(_one_model(engine, "pushing models is not supported"), param="model")


@router.post("/api/create")
async def create(request: Request) -> Response:
    engine = _engine(request)
    await read_json_object(request)
    raise UnsupportedFeature(_one_model(engine, "creating models is not supported"))


@router.post("/api/copy")
async def copy(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(CopyRequest, await read_json_object(request))
    if not body.source or not body.destination:
        raise UnsupportedFeature("source and destination are required")
    if not models.is_served(engine, body.source):
        raise ModelNotFound(f"model '{body.source}' not found", param="source")
    raise UnsupportedFeature(_one_model(engine, "copying models is not supported"), param="destination")


@router.delete("/api/delete")
async def delete(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    raise UnsupportedFeature(_one_model(engine, f"the served model '{body.target}' cannot be deleted"))


@router.head("/api/blobs/{digest}")
async def blob_exists(digest: str) -> Response:
    raise NotFound(f"blob '{digest}' not found")


@router.post("/api/blobs/{digest}")
async def blob_upload(engine_request: Request, digest: str) -> Response:
    raise UnsupportedFeature(_one_model(_engine(engine_request), "uploading blobs is not supported"))


def _one_model(engine: ModelEngine, what: str) -> str:
    return (
        f"{what}: this Lazarus server serves exactly one model, '{models.tagged(engine.model_name)}'; "
        "restart `lazarus serve --model …` to serve another"
    )
