"""Anthropic routes: `POST /v1/messages`, `POST /v1/messages/count_tokens`, and `GET /v1/models` when
the OpenAI protocol (which owns `/v1/models` when both are served) is not enabled.

Thin: parse, call the engine, render. Headers Anthropic clients send (`anthropic-version`,
`anthropic-beta`) and the SDK's `?beta=true` query are accepted and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Scope

from ...engine import EventStream, ModelEngine, fold_events
from ...engine.errors import GenerationFailed, ModelNotFound
from ...engine.types import Event, Finish
from ...server.auth import check_api_key
from ...server.body import read_json_object, validate_as
from ...server.disconnect import cancel_on_disconnect
from .. import Protocol
from .errors import error_event, request_id
from .render import StreamWriter, message_id, message_json
from .schemas import CountTokensRequest, MessagesRequest, to_generation_request

log = logging.getLogger(__name__)

PING_INTERVAL_S = 10.0  # Anthropic pings during long silences; proxies drop idle connections at ~60 s


def _auth(request: Request) -> None:
    # The anthropic SDK sends `x-api-key`; `Authorization: Bearer` works too.
    check_api_key(request, x_api_key=True)


class _ModelsRoute(APIRoute):
    """Matches only when OpenAI is not served, so `/v1/models` keeps OpenAI's shape when both are."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        app = scope.get("app")
        config = getattr(getattr(app, "state", None), "config", None)
        if config is not None and Protocol.OPENAI in config.protocols:
            return Match.NONE, {}
        return super().matches(scope)


router = APIRouter(prefix="/v1", dependencies=[Depends(_auth)])
models_router = APIRouter(route_class=_ModelsRoute)  # included below, so it shares `router`'s auth


def _engine(request: Request) -> ModelEngine:
    engine: ModelEngine = request.app.state.engine
    return engine


def _check_model(engine: ModelEngine, model: str) -> None:
    if not engine.serves(model):
        raise ModelNotFound(f"model: {model} (this server serves '{engine.model_name}')", param="model")


@router.post("/messages")
async def create_message(request: Request) -> Response:
    engine = _engine(request)
    body = validate_as(MessagesRequest, await read_json_object(request))
    _check_model(engine, body.model)
    generation = to_generation_request(body)
    rid = request_id()
    headers = {"request-id": rid}
    if body.stream:
        # message_start carries the prompt's size, so it is counted before the stream begins; both
        # calls raise request errors here, while a plain HTTP error can still be sent.
        input_tokens = await engine.count_tokens(generation)
        stream = await engine.start(generation)
        writer = StreamWriter(model=body.model, input_tokens=input_tokens)
        return StreamingResponse(
            _frames(writer, stream),
            media_type="text/event-stream",
            headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    stream = await engine.start(generation)
    try:
        result = await cancel_on_disconnect(request, fold_events(stream))
    finally:
        await stream.aclose()
    return JSONResponse(message_json(mid=message_id(), model=body.model, result=result), headers=headers)


@router.post("/messages/count_tokens")
async def count_tokens(request: Request) -> JSONResponse:
    engine = _engine(request)
    body = validate_as(CountTokensRequest, await read_json_object(request))
    _check_model(engine, body.model)
    return JSONResponse({"input_tokens": await engine.count_tokens(to_generation_request(body))})


async def _frames(writer: StreamWriter, stream: EventStream) -> AsyncIterator[bytes]:
    """Every event as frames, with a `ping` whenever the engine is silent for a while; a failure after
    the first byte becomes an `event: error` frame. Leaving early (the client went away) cancels the
    sequence."""
    pending: asyncio.Future[Event] | None = None
    try:
        yield writer.start()
        while True:
            if pending is None:
                # A task, not wait_for: timing out must not cancel the generation, only the wait.
                pending = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=PING_INTERVAL_S)
            if not done:
                yield writer.ping()
                continue
            event, pending = pending.result(), None
            if isinstance(event, Finish):
                for frame in writer.finish(event):
                    yield frame
                return
            for frame in writer.event(event):
                yield frame
    except StopAsyncIteration:
        yield error_event(GenerationFailed("the generation ended without a finish"))
    except Exception as exc:  # noqa: BLE001 - after the 200, every failure must become an error frame
        log.warning("generation failed mid-stream: %s", exc)
        yield error_event(exc)
    finally:
        if pending is not None:
            pending.cancel()
        await stream.aclose()


# ---- models (only when OpenAI is not served) ----------------------------------------------------


def _model_json(engine: ModelEngine, name: str) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(engine.loaded_at), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    context = engine.info.context_length
    return {
        "type": "model", "id": name, "display_name": name, "created_at": created, "lifecycle": "active",
        "max_input_tokens": context, "max_tokens": context,
    }  # fmt: skip


@models_router.get("/models")
async def list_models(request: Request) -> JSONResponse:
    engine = _engine(request)
    names = [engine.model_name, *engine.aliases]
    data = [_model_json(engine, n) for n in names]
    return JSONResponse({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})


@models_router.get("/models/{model_id:path}")
async def get_model(request: Request, model_id: str) -> JSONResponse:
    engine = _engine(request)
    if not engine.serves(model_id):
        raise ModelNotFound(f"model: {model_id} (this server serves '{engine.model_name}')")
    return JSONResponse(_model_json(engine, model_id))


router.include_router(models_router)
