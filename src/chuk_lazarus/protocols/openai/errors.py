"""The error tree in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

from ...core import errors as E
from ...serving.errors import ErrorKind, ErrorTable


def _body(exc: Exception, kind: ErrorKind, message: str) -> dict[str, Any]:
    param = exc.param if isinstance(exc, E.LazarusError) else None
    return {"error": {"message": message, "type": kind.type, "param": param, "code": kind.code}}


ERRORS = ErrorTable(
    kinds={
        E.ContextLengthExceeded: ErrorKind(400, "invalid_request_error", "context_length_exceeded"),
        E.UnsupportedFeature: ErrorKind(400, "invalid_request_error", "unsupported_value"),
        E.InvalidRequest: ErrorKind(400, "invalid_request_error"),
        E.ModelNotFound: ErrorKind(404, "invalid_request_error", "model_not_found"),
        E.NotFound: ErrorKind(404, "invalid_request_error", "not_found"),
        E.MethodNotAllowed: ErrorKind(405, "invalid_request_error", "method_not_allowed"),
        E.AuthError: ErrorKind(401, "invalid_request_error", "invalid_api_key"),
        E.Forbidden: ErrorKind(403, "invalid_request_error", "forbidden"),
        E.RequestTooLarge: ErrorKind(413, "invalid_request_error", "request_too_large"),
        E.RequestTimeout: ErrorKind(408, "invalid_request_error", "request_timeout"),
        E.Overloaded: ErrorKind(503, "server_error", "overloaded"),
        E.GenerationFailed: ErrorKind(500, "server_error"),
    },
    fallback=ErrorKind(500, "server_error"),
    body=_body,
)
