"""Whether this server can take work: `/health`, `/ready`, `/metrics`, and the refusal of requests
while it cannot.

`lazarus serve` binds its port before the model is loaded (as llama-server does), so a balancer or a
client sees an answer at once:

| state                          | /health              | /ready               | other routes               |
|--------------------------------|----------------------|----------------------|----------------------------|
| loading (`app.state.engine` None) | 503 `loading`     | 503 `loading`        | the protocol's overloaded error, `Retry-After` |
| serving                        | 200 `ok`             | 200 `ready`          | served                     |
| draining (after SIGTERM)       | 503 `shutting_down`  | 503 `draining`       | the protocol's overloaded error, `Retry-After` |

`/health` and `/ready` never ask for the API key (probes rarely have one); `/metrics` does unless the
server was started with `--metrics-public`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..core.errors import Overloaded
from ..serving.metrics import CONTENT_TYPE

# How long a client refused while loading or draining should wait before retrying.
RETRY_AFTER_S = 5
# Answered in every state: the probes, and metrics (a scraper should see a draining replica too).
ALWAYS_ANSWERED = frozenset({"/health", "/ready", "/metrics"})


class RefuseUnlessServing:
    """ASGI middleware: while the model loads or the server drains, requests other than the probes
    get the protocol's "overloaded" error with `Retry-After`, so clients retry instead of failing."""

    def __init__(self, app: ASGIApp, *, state: Any, respond: Callable[[str, Overloaded], Response]) -> None:
        self.app = app
        self.state = state
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in ALWAYS_ANSWERED:
            reason = None
            if self.state.shutting_down:
                reason = "the server is shutting down; retry shortly"
            elif self.state.engine is None:
                reason = "the model is still loading; retry shortly"
            if reason is not None:
                await self.respond(scope["path"], Overloaded(reason, retry_after=RETRY_AFTER_S))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_probe_routes(app: FastAPI, *, metrics: bool, metrics_auth: Any | None) -> None:
    """`/health`, `/ready`, and `/metrics` when `metrics` (behind `metrics_auth`, a dependency, if given)."""

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        engine = app.state.engine
        if engine is None:
            return JSONResponse({"status": "loading"}, status_code=503)
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

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # A balancer reads this to stop sending before SIGTERM's drain ends: it fails while draining.
        if app.state.engine is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        if app.state.shutting_down:
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ready", "model": app.state.engine.model_name})

    if not metrics:
        return

    @app.get("/metrics", include_in_schema=False, dependencies=[metrics_auth] if metrics_auth else [])
    async def prometheus_metrics(request: Request) -> Response:
        serving_metrics = request.app.state.metrics
        if serving_metrics is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return Response(serving_metrics.render(), media_type=CONTENT_TYPE)

