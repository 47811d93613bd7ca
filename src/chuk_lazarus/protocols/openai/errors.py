"""The error tree in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from ...engine import errors as E

# (status, type, code) by error class; the most specific class wins (looked up along the MRO).
_MAPPING: dict[type[Exception], tuple[int, str, str | None]] = {
    E.ContextLengthExceeded: (400, "invalid_request_error", "context_length_exceeded"),
    E.UnsupportedFeature: (400, "invalid_request_error", "unsupported_value"),
    E.InvalidRequest: (400, "invalid_request_error", None),
    E.ModelNotFound: (404, "invalid_request_error", "model_not_found"),
    E.NotFound: (404, "invalid_request_error", "not_found"),
    E.MethodNotAllowed: (405, "invalid_request_error", "method_not_allowed"),
    E.AuthError: (401, "invalid_request_error", "invalid_api_key"),
    E.RequestTooLarge: (413, "invalid_request_error", "request_too_large"),
    E.Overloaded: (503, "server_error", "overloaded"),
    E.GenerationFailed: (500, "server_error", None),
}


def _classify(exc: Exception) -> tuple[int, str, str | None]:
    for cls in type(exc).__mro__:
        if cls in _MAPPING:
            return _MAPPING[cls]
    return 500, "server_error", None


def error_body(exc: Exception) -> dict[str, Any]:
    _, kind, code = _classify(exc)
    message = exc.message if isinstance(exc, E.LazarusError) else "internal server error"
    param = exc.param if isinstance(exc, E.LazarusError) else None
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: Exception) -> Response:
    status, _, _ = _classify(exc)
    headers = {}
    if isinstance(exc, E.Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, E.AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(exc), status_code=status, headers=headers)
