"""`create_app`: the FastAPI application serving one engine over the chosen protocols."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Sequence

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .. import __version__
from ..core.errors import GenerationFailed, LazarusError, MethodNotAllowed, NotFound
from ..engine.client import EngineClient
from ..protocols import Protocol
from ..protocols.base import ProtocolSpec
from ..serving.auth import check_api_key
from ..serving.disconnect import CLIENT_CLOSED_REQUEST
from ..serving.state import DEFAULT_KEEPALIVE_S, DEFAULT_MAX_BODY_BYTES, ServingConfig
from .shutdown import RefuseWhileShuttingDown

log = logging.getLogger(__name__)


def _load_spec(protocol: Protocol) -> ProtocolSpec:
    # Imported on demand so a protocol's module is only loaded when it is served.
    module = importlib.import_module(f"chuk_lazarus.protocols.{protocol.value}")
    spec: ProtocolSpec = module.spec()
    return spec


def _auth_for(spec: ProtocolSpec) -> Callable[[Request], None]:
    def auth(request: Request) -> None:
        check_api_key(request, x_api_key=spec.accepts_x_api_key)

    return auth


def create_app(
    engine: EngineClient,
    protocols: Sequence[Protocol | str] = (Protocol.OPENAI,),
    api_key: str | None = None,
    default_max_tokens: int = 512,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    keepalive_s: float = DEFAULT_KEEPALIVE_S,
) -> FastAPI:
    chosen = tuple(dict.fromkeys(Protocol(p) for p in protocols))
    if not chosen:
        raise ValueError("at least one protocol must be served")
    if default_max_tokens < 1:
        raise ValueError("default_max_tokens must be at least 1")
    specs = sorted((_load_spec(p) for p in chosen), key=lambda s: -s.priority)

    app = FastAPI(title="Lazarus inference server", version=__version__, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.config = ServingConfig(
        protocols=tuple(p.value for p in chosen),
        api_key=api_key or None,
        default_max_tokens=default_max_tokens,
        max_body_bytes=max_body_bytes,
        keepalive_s=keepalive_s,
    )
    app.state.shutting_down = False

    def spec_for(path: str) -> ProtocolSpec:
        for spec in specs:
            if spec.owns_path(path):
                return spec
        return specs[-1]

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        # Deliberately unauthenticated, so load balancers and probes work without the key.
        status = 503 if app.state.shutting_down else 200
        return JSONResponse(
            {
                "status": "shutting_down" if app.state.shutting_down else "ok",
                "model": engine.model_name,
                "protocols": [p.value for p in chosen],
                "load": dataclasses.asdict(engine.load_stats()),
            },
            status_code=status,
        )

    for spec in specs:
        app.include_router(spec.router, dependencies=[Depends(_auth_for(spec))])

    # While draining for shutdown, new requests get the protocol's "overloaded" error + Retry-After.
    app.add_middleware(
        RefuseWhileShuttingDown, state=app.state, respond=lambda path, exc: spec_for(path).errors.response(exc)
    )

    @app.exception_handler(LazarusError)
    async def lazarus_error(request: Request, exc: LazarusError) -> Response:
        return spec_for(request.url.path).errors.response(exc)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # Not an error of ours: the client went away (mid-upload, or before a non-streaming answer,
        # whose generation `cancel_on_disconnect` has already cancelled). Nobody reads this response.
        log.info("%s %s: the client disconnected; request abandoned", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error: LazarusError
        if exc.status_code == 404:
            error = NotFound(f"no route {request.method} {request.url.path}")
        elif exc.status_code == 405:
            error = MethodNotAllowed(f"method {request.method} is not allowed on {request.url.path}")
        else:
            error = GenerationFailed(str(exc.detail))
        return spec_for(request.url.path).errors.response(error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return spec_for(request.url.path).errors.response(GenerationFailed("internal server error"))

    return app
