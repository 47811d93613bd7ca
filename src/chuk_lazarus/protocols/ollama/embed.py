"""Ollama `POST /api/embed` and the older `POST /api/embeddings`: schemas and responses.

`/api/embed` takes `input` (a string or a list of strings), `truncate` (default true: an input longer
than the context is cut to fit; false: it is a 400), `dimensions` (only the model's own size),
`keep_alive` and `options` (accepted; the one model stays loaded). Empty input answers
`embeddings: []`, as Ollama does (its clients send it to load a model). `/api/embeddings` takes one
`prompt` and answers `{"embedding": [...]}` (an empty prompt: an empty vector, as Ollama). Vectors
are L2-normalized on both (Ollama normalizes only /api/embed; a unit vector has the same cosines).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from ...core.embedding import EmbeddingRequest
from ...serving.body import json_body, read_json_object, validate_as
from ...serving.state import engine_of
from . import models
from .schemas import _Model

router = APIRouter()


class EmbedRequest(_Model):
    model: str = ""
    input: str | list[str] = Field(default_factory=list)
    truncate: bool = True
    dimensions: int | None = Field(default=None, ge=1)
    keep_alive: Any = None
    options: dict[str, Any] | None = None


class LegacyEmbeddingsRequest(_Model):
    model: str = ""
    prompt: str = ""
    keep_alive: Any = None
    options: dict[str, Any] | None = None


@router.post("/api/embed", openapi_extra=json_body(EmbedRequest))
async def embed(request: Request) -> JSONResponse:
    arrived = time.perf_counter_ns()  # Ollama's total_duration counts reading the request too
    body = validate_as(EmbedRequest, await read_json_object(request))
    engine = engine_of(request)
    models.check_model(engine, body.model)
    inputs = [body.input] if isinstance(body.input, str) and body.input else body.input or []
    if not inputs:
        return JSONResponse({"model": body.model, "embeddings": []})
    result = await engine.embed(
        EmbeddingRequest(inputs=tuple(inputs), truncate=body.truncate, dimensions=body.dimensions)
    )
    return JSONResponse(
        {
            "model": body.model,
            "embeddings": result.vectors,
            "total_duration": time.perf_counter_ns() - arrived,
            "load_duration": 0,  # the model was loaded at startup
            "prompt_eval_count": result.prompt_tokens,
        }
    )


@router.post("/api/embeddings", openapi_extra=json_body(LegacyEmbeddingsRequest))
async def embeddings(request: Request) -> JSONResponse:
    body = validate_as(LegacyEmbeddingsRequest, await read_json_object(request))
    engine = engine_of(request)
    models.check_model(engine, body.model)
    if not body.prompt:
        return JSONResponse({"embedding": []})
    result = await engine.embed(EmbeddingRequest(inputs=(body.prompt,), truncate=True))
    return JSONResponse({"embedding": result.vectors[0]})
