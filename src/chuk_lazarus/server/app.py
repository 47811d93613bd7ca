"""`create_app`: the FastAPI application serving one engine over the chosen protocols."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import __version__
from ..engine.client import EngineClient
from ..protocols import Protocol
from ..protocols.base import ProtocolSpec
from ..serving.auth import check_api_key
from ..serving.body import with_body_schemas
from ..serving.metrics import ServingMetrics
from ..serving.state import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_KEEPALIVE_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_RESPONSES_STORE_MAX,
    DEFAULT_RESPONSES_STORE_TTL,
    ServingConfig,
)
from ..serving.tracking import RequestTracking
from .errors import install_error_handlers
from .guards import CatchUnexpected, HostCheck
from .readiness import RefuseUnlessServing, add_probe_routes


def _load_spec(protocol: Protocol) -> ProtocolSpec:
    # Imported on demand so a protocol's module is only loaded when it is served.
    module = importlib.import_module(f"chuk_lazarus.protocols.{protocol.value}")
    spec: ProtocolSpec = module.spec()
    return spec


def _auth(x_api_key: bool) -> Callable[[Request], None]:
    def auth(request: Request) -> None:
        check_api_key(request, x_api_key=x_api_key)

    return auth


def create_app(
    engine: EngineClient | None,
    protocols: Sequence[Protocol | str] = (Protocol.OPENAI,),
    api_key: str | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    keepalive_s: float = DEFAULT_KEEPALIVE_S,
    responses_store_max: int = DEFAULT_RESPONSES_STORE_MAX,
    responses_store_ttl: float = DEFAULT_RESPONSES_STORE_TTL,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    allowed_hosts: Sequence[str] | None = None,
    cors_origins: Sequence[str] = (),
    metrics: bool = True,
    metrics_public: bool = False,
) -> FastAPI:
    """`engine` None: the model is still loading; the app answers probes (503 `loading`) and refuses
    the rest until `attach_engine`. `allowed_hosts`: None answers any Host; a sequence (even empty)
    answers loopback names and those (`lazarus serve` passes one when bound to loopback; see
    `guards.HostCheck`). `cors_origins`: browser origins allowed to call the API (`*` for any); empty:
    no CORS headers at all. `metrics`: serve `GET /metrics`, behind the API key unless `metrics_public`."""
    chosen = tuple(dict.fromkeys(Protocol(p) for p in protocols))
    if not chosen:
        raise ValueError("at least one protocol must be served")
    if default_max_tokens < 1:
        raise ValueError("default_max_tokens must be at least 1")
    specs = sorted((_load_spec(p) for p in chosen), key=lambda s: -s.priority)

    app = FastAPI(title="Lazarus inference server", version=__version__, docs_url=None, redoc_url=None)
    generate_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_body_schemas(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.engine = None
    app.state.metrics = None
    app.state.metrics_on = metrics
    app.state.config = ServingConfig(
        protocols=tuple(p.value for p in chosen),
        api_key=api_key or None,
        default_max_tokens=default_max_tokens,
        max_body_bytes=max_body_bytes,
        keepalive_s=keepalive_s,
        responses_store_max=responses_store_max,
        responses_store_ttl=responses_store_ttl,
        body_timeout_s=body_timeout_s,
    )
    app.state.shutting_down = False

    def spec_for(path: str, headers: Mapping[str, str] | None = None) -> ProtocolSpec:
        if headers is not None:
            claimed = next((s for s in specs if s.claims_request and s.claims_request(path, headers)), None)
            if claimed is not None:
                return claimed
        return next((spec for spec in specs if spec.owns_path(path)), specs[-1])

    # One server, one key: when a protocol whose clients send `x-api-key` is served, every route takes it.
    auth = Depends(_auth(any(spec.accepts_x_api_key for spec in specs)))
    add_probe_routes(app, metrics=metrics, metrics_auth=None if metrics_public else auth)
    for spec in specs:
        app.include_router(spec.router, dependencies=[auth])

    def respond(path: str, exc: Exception) -> JSONResponse:
        return spec_for(path).errors.response(exc)

    # Middleware added later runs earlier: request tracking first, then the Host check, CORS, and the
    # refusal while loading or draining.
    app.add_middleware(CatchUnexpected, respond=respond)
    # While loading or draining, new requests get the protocol's "overloaded" error + Retry-After.
    app.add_middleware(RefuseUnlessServing, state=app.state, respond=respond)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"], allow_headers=["*"]
        )
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts, respond=respond)
    # Outermost: every answer above, refusals and errors included, carries the request's id.
    app.add_middleware(
        RequestTracking,
        protocol_of=lambda path, headers: spec_for(path, headers).protocol.value,
        metrics=lambda: app.state.metrics,
    )
    install_error_handlers(app, lambda request: spec_for(request.url.path, request.headers).errors)
    if engine is not None:
        attach_engine(app, engine)
    return app


def attach_engine(app: FastAPI, engine: EngineClient) -> None:
    """The model has loaded: serve it (`create_app(None, ...)` answered 503 `loading` until now)."""
    if app.state.metrics_on:
        app.state.metrics = ServingMetrics(engine.model_name, engine.info.context_length, engine.load_stats)
    app.state.engine = engine
