"""Ollama routes: `/`, `/api/version`, `/api/tags`, `/api/show`, `/api/ps`, `/api/chat`, `/api/generate`,
`/api/embed` and `/api/embeddings` (embed.py), and honest refusals for what a one-model server cannot
do (pull, create, copy, delete, push).
Thin: parse, call the engine, render."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ... import __version__
from ...core.errors import ModelNotFound, NotFound, UnsupportedFeature
from ...core.types import GenerationRequest
from ...engine.client import EngineClient
from ...serving.body import json_body, read_json_object, validate_as
from ...serving.pipeline import respond
from ...serving.state import config_of, engine_of
from . import models
from .embed import router as embed_router
from .render import Kind, OllamaRenderer, ndjson
from .schemas import (
    ChatRequest,
    CopyRequest,
    GenerateRequest,
    ModelRequest,
    chat_to_generation,
    generate_to_generation,
)

NDJSON = "application/x-ndjson"
_ZERO_DURATION = re.compile(r"^\s*[-+]?0*(\.0*)?\s*(ns|us|µs|ms|s|m|h)?\s*$")

router = APIRouter()
router.include_router(embed_router)  # /api/embed, /api/embeddings
log = logging.getLogger(__name__)


# ---- discovery ------------------------------------------------------------------------------------


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def root() -> Response:
    return PlainTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version() -> JSONResponse:
    return JSONResponse({"version": models.OLLAMA_COMPAT_VERSION, "lazarus_version": __version__})


@router.api_route("/api/tags", methods=["GET", "HEAD"])
async def tags(request: Request) -> JSONResponse:
    return JSONResponse({"models": [models.tags_entry(engine_of(request))]})


@router.get("/api/ps")
async def ps(request: Request) -> JSONResponse:
    return JSONResponse({"models": [models.ps_entry(engine_of(request))]})


@router.post("/api/show", openapi_extra=json_body(ModelRequest))
async def show(request: Request) -> JSONResponse:
    engine = engine_of(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    return JSONResponse(models.show(engine))


# ---- generation -----------------------------------------------------------------------------------


@router.post("/api/chat", openapi_extra=json_body(ChatRequest))
async def chat(request: Request) -> Response:
    arrived = time.perf_counter_ns()  # Ollama's total_duration counts reading the request too
    body = validate_as(ChatRequest, await read_json_object(request))
    return await _reply(request, "chat", body, arrived, chat_to_generation, empty=not body.messages)


@router.post("/api/generate", openapi_extra=json_body(GenerateRequest))
async def generate(request: Request) -> Response:
    arrived = time.perf_counter_ns()
    body = validate_as(GenerateRequest, await read_json_object(request))
    return await _reply(request, "generate", body, arrived, generate_to_generation, empty=not body.prompt)


async def _reply(
    request: Request,
    kind: Kind,
    body: ChatRequest | GenerateRequest,
    arrived: int,
    to_generation: Callable[..., GenerationRequest],  # chat_to_generation or generate_to_generation
    *,
    empty: bool,
) -> Response:
    engine = engine_of(request)
    models.check_model(engine, body.model)
    num_ctx = body.options.num_ctx if body.options else None
    if num_ctx is not None and num_ctx > engine.info.context_length:
        # The context is allocated once at load; a request cannot grow it (nor make us allocate).
        log.info("num_ctx %d is above the server's context of %d tokens; using %d",
                 num_ctx, engine.info.context_length, engine.info.context_length)  # fmt: skip
    if body.think not in (None, False) and engine.reasoning_format == "none":
        raise UnsupportedFeature(f'"{body.model}" does not support thinking', param="think")  # Ollama's words
    renderer = OllamaRenderer(kind, body.model, want_logprobs=body.logprobs, started_ns=arrived)
    generation = to_generation(body, default_max_tokens=config_of(request).default_max_tokens)
    if empty:  # no messages / no prompt: Ollama's way of loading or unloading the model
        return JSONResponse(renderer.loaded("unload" if _is_zero(body.keep_alive) else "load"))
    return await respond(request, generation, renderer, stream=body.stream)


def _is_zero(keep_alive: Any) -> bool:
    if isinstance(keep_alive, bool) or keep_alive is None:
        return False
    if isinstance(keep_alive, (int, float)):
        return keep_alive == 0
    return bool(_ZERO_DURATION.match(str(keep_alive)))


# ---- what a one-model server does not do ----------------------------------------------------------


@router.post("/api/pull", openapi_extra=json_body(ModelRequest))
async def pull(request: Request) -> Response:
    engine = engine_of(request)
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


@router.post("/api/push", openapi_extra=json_body(ModelRequest))
async def push(request: Request) -> Response:
    engine = engine_of(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    raise UnsupportedFeature(_one_model(engine, "pushing models is not supported"), param="model")


@router.post("/api/create")
async def create(request: Request) -> Response:
    engine = engine_of(request)
    await read_json_object(request)
    raise UnsupportedFeature(_one_model(engine, "creating models is not supported"))


@router.post("/api/copy", openapi_extra=json_body(CopyRequest))
async def copy(request: Request) -> Response:
    engine = engine_of(request)
    body = validate_as(CopyRequest, await read_json_object(request))
    if not body.source or not body.destination:
        raise UnsupportedFeature("source and destination are required")
    if not models.is_served(engine, body.source):
        raise ModelNotFound(f"model '{body.source}' not found", param="source")
    raise UnsupportedFeature(_one_model(engine, "copying models is not supported"), param="destination")


@router.delete("/api/delete", openapi_extra=json_body(ModelRequest))
async def delete(request: Request) -> Response:
    engine = engine_of(request)
    body = validate_as(ModelRequest, await read_json_object(request))
    models.check_model(engine, body.target)
    raise UnsupportedFeature(_one_model(engine, f"the served model '{body.target}' cannot be deleted"))


@router.head("/api/blobs/{digest}")
async def blob_exists(digest: str) -> Response:
    raise NotFound(f"blob '{digest}' not found")


@router.post("/api/blobs/{digest}")
async def blob_upload(engine_request: Request, digest: str) -> Response:
    raise UnsupportedFeature(_one_model(engine_of(engine_request), "uploading blobs is not supported"))


def _one_model(engine: EngineClient, what: str) -> str:
    return (
        f"{what}: this Lazarus server serves exactly one model, '{models.tagged(engine.model_name)}'; "
        "restart `lazarus serve --model …` to serve another"
    )
