"""OpenAI routes: `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`, the
Responses API routes (`responses/router.py`) and `POST /v1/embeddings` (embeddings.py). Thin: parse,
check, respond."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...serving.body import json_body, read_json_object, validate_as
from ...serving.pipeline import respond
from ...serving.state import config_of, engine_of
from .checks import check_model
from .completions import CompletionRequest, to_generation_requests
from .completions_render import CompletionRenderer
from .embeddings import router as embeddings_router
from .render import ChatRenderer
from .responses.router import router as responses_router
from .schemas import ChatCompletionRequest, to_generation_request

router = APIRouter(prefix="/v1")
router.include_router(embeddings_router)


@router.get("/models")
async def list_models(request: Request) -> JSONResponse:
    engine = engine_of(request)
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
    engine = engine_of(request)
    check_model(engine, model_id)
    return JSONResponse(
        {"id": model_id, "object": "model", "created": int(engine.loaded_at), "owned_by": "lazarus"}
    )


@router.post("/chat/completions", openapi_extra=json_body(ChatCompletionRequest))
async def chat_completions(request: Request) -> Response:
    body = validate_as(ChatCompletionRequest, await read_json_object(request))
    check_model(engine_of(request), body.model, param="model")
    generation = to_generation_request(body, default_max_tokens=config_of(request).default_max_tokens)
    renderer = ChatRenderer(
        model=body.model,
        want_logprobs=body.logprobs,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
    return await respond(request, generation, renderer, stream=body.stream)


@router.post("/completions", openapi_extra=json_body(CompletionRequest))
async def completions(request: Request) -> Response:
    body = validate_as(CompletionRequest, await read_json_object(request))
    check_model(engine_of(request), body.model, param="model")
    generations = to_generation_requests(body, default_max_tokens=config_of(request).default_max_tokens)
    renderer = CompletionRenderer(
        model=body.model,
        n=body.n,
        want_logprobs=body.logprobs is not None,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )
    return await respond(request, generations, renderer, stream=body.stream)


router.include_router(responses_router)
