"""Anthropic routes: `POST /v1/messages`, `POST /v1/messages/count_tokens`, and `GET /v1/models` (+ `/{id}`)
for Anthropic's clients: every such request when OpenAI is not served, and, when it is, those carrying
`anthropic-version` (or only `x-api-key`); OpenAI's clients keep OpenAI's shape.

Thin: parse, call the engine, render. Headers Anthropic clients send (`anthropic-version`,
`anthropic-beta`) and the SDK's `?beta=true` query are accepted and change nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import Scope

from ...core.errors import ModelNotFound
from ...engine.client import EngineClient
from ...serving.body import json_body, read_json_object, validate_as
from ...serving.pipeline import respond
from ...serving.request_context import note_model
from ...serving.state import engine_of
from .. import Protocol
from . import sent_by_anthropic_client
from .errors import request_id
from .render import MessageRenderer, asks_for_caching
from .schemas import CountTokensRequest, MessagesRequest, to_generation_request


class _ModelsRoute(APIRoute):
    """When OpenAI is served too, matches only requests an Anthropic client sent (its headers), so
    `/v1/models` answers each SDK in its own shape."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        app = scope.get("app")
        config = getattr(getattr(app, "state", None), "config", None)
        openai_served = config is not None and Protocol.OPENAI.value in config.protocols
        if openai_served and (scope.get("type") != "http" or not sent_by_anthropic_client(Headers(scope=scope))):
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(prefix="/v1")
models_router = APIRouter(route_class=_ModelsRoute)  # included below, so it shares `router`'s auth


def _check_model(engine: EngineClient, model: str, *, param: str | None = None) -> None:
    note_model(model)
    if not engine.serves(model):
        raise ModelNotFound(f"model: {model} (this server serves '{engine.model_name}')", param=param)


@router.post("/messages", openapi_extra=json_body(MessagesRequest))
async def create_message(request: Request) -> Response:
    raw = await read_json_object(request)
    body = validate_as(MessagesRequest, raw)
    _check_model(engine_of(request), body.model, param="model")
    # Prompt-cache reads are reported where the client asked for caching, as Anthropic does.
    renderer = MessageRenderer(model=body.model, report_cache=asks_for_caching(raw))
    headers = {"request-id": request_id()}
    return await respond(request, to_generation_request(body), renderer, stream=body.stream, headers=headers)


@router.post("/messages/count_tokens", openapi_extra=json_body(CountTokensRequest))
async def count_tokens(request: Request) -> JSONResponse:
    engine = engine_of(request)
    body = validate_as(CountTokensRequest, await read_json_object(request))
    _check_model(engine, body.model, param="model")
    return JSONResponse({"input_tokens": await engine.count_tokens(to_generation_request(body))})


# ---- models (for Anthropic's clients) ------------------------------------------------------------


def _model_json(engine: EngineClient, name: str) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(engine.loaded_at), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    context = engine.info.context_length
    return {
        "type": "model", "id": name, "display_name": name, "created_at": created, "lifecycle": "active",
        "max_input_tokens": context, "max_tokens": context,
    }  # fmt: skip


@models_router.get("/models")
async def list_models(request: Request) -> JSONResponse:
    engine = engine_of(request)
    names = [engine.model_name, *engine.aliases]
    data = [_model_json(engine, n) for n in names]
    return JSONResponse({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})


@models_router.get("/models/{model_id:path}")
async def get_model(request: Request, model_id: str) -> JSONResponse:
    engine = engine_of(request)
    _check_model(engine, model_id)
    return JSONResponse(_model_json(engine, model_id))


router.include_router(models_router)
