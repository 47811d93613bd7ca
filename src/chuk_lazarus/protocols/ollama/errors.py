"""The error tree in Ollama's shape: `{"error": "…"}`, with the status Ollama itself answers."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from ...engine import errors as E

# Status by error class; the most specific class wins (looked up along the MRO).
_STATUS: dict[type[Exception], int] = {
    E.InvalidRequest: 400,  # includes ContextLengthExceeded and UnsupportedFeature
    E.NotFound: 404,  # includes ModelNotFound
    E.MethodNotAllowed: 405,
    E.AuthError: 401,
    E.RequestTooLarge: 413,
    E.Overloaded: 503,  # Ollama: "server busy, please try again.  maximum pending requests exceeded"
    E.GenerationFailed: 500,
}


def status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def error_body(exc: Exception) -> dict[str, Any]:
    message = exc.message if isinstance(exc, E.LazarusError) else "internal server error"
    return {"error": message}


def error_response(exc: Exception) -> Response:
    headers = {}
    if isinstance(exc, E.Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, E.AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(exc), status_code=status_of(exc), headers=headers)
