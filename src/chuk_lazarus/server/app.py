"""`create_app`: the FastAPI application serving one engine over the chosen protocols."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence

from fastapi import Depends, FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import __version__
from ..engine.client import EngineClient
from ..protocols import Protocol
from ..protocols.base import ProtocolSpec
from ..serving.auth import check_api_key
from ..serving.state import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_KEEPALIVE_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_RESPONSES_STORE_MAX,
    DEFAULT_RESPONSES_STORE_TTL,
    ServingConfig,
)
from .errors import install_error_handlers
from .guards import CatchUnexpected, HostCheck
from .shutdown import RefuseWhileShuttingDown


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
    engine: EngineClient,
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
) -> FastAPI:
    """`allowed_hosts`: None answers any Host; a sequence (even empty) answers loopback names and
    those (`lazarus serve` passes one when bound to loopback; see `guards.HostCheck`). `cors_origins`:
    browser origins allowed to call the API (`*` for any); empty: no CORS headers at all."""
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

    _add_health(app, engine)
    # One server, one key: when a protocol whose clients send `x-api-key` is served, every route takes it.
    auth = Depends(_auth(any(spec.accepts_x_api_key for spec in specs)))
    for spec in specs:
        app.include_router(spec.router, dependencies=[auth])

    def respond(path: str, exc: Exception) -> JSONResponse:
        return spec_for(path).errors.response(exc)

    # Middleware added later runs earlier: the Host check first, then CORS, then shutdown refusal.
    app.add_middleware(CatchUnexpected, respond=respond)
    # While draining for shutdown, new requests get the protocol's "overloaded" error + Retry-After.
    app.add_middleware(RefuseWhileShuttingDown, state=app.state, respond=respond)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"], allow_headers=["*"]
        )
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts, respond=respond)
    install_error_handlers(app, lambda request: spec_for(request.url.path, request.headers).errors)
    return app


def _add_health(app: FastAPI, engine: EngineClient) -> None:
    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        # Deliberately unauthenticated, so load balancers and probes work without the key.
        draining = app.state.shutting_down
        return JSONResponse(
            {
                "status": "shutting_down" if draining else "ok",
                "model": engine.model_name,
                "protocols": list(app.state.config.protocols),
                "load": dataclasses.asdict(engine.load_stats()),
            },
            status_code=503 if draining else 200,
        )
