"""Every failure of a request answered in the shape of the protocol that owns its path.

Typed `LazarusError`s map through that protocol's `ErrorTable`; Starlette's own 404/405 become our
`NotFound`/`MethodNotAllowed`; a client that left gets a bodiless 499; anything else is logged and
answered as the protocol's internal error, never a bare traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..core.errors import GenerationFailed, LazarusError, MethodNotAllowed, NotFound
from ..serving.disconnect import CLIENT_CLOSED_REQUEST
from ..serving.errors import ErrorTable

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI, errors_for: Callable[[Request], ErrorTable]) -> None:
    """`errors_for(request)`: the error table of the protocol the request belongs to (by its path, and
    for paths two protocols share, by which protocol's client sent it)."""

    @app.exception_handler(LazarusError)
    async def lazarus_error(request: Request, exc: LazarusError) -> Response:
        return errors_for(request).response(exc)

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
        return errors_for(request).response(error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return errors_for(request).response(GenerationFailed("internal server error"))
