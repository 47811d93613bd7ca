"""The error tree in Anthropic's shape: `{"type": "error", "error": {"type", "message"}, "request_id"}`.

Statuses follow Anthropic's table (overload is 529, which its SDKs retry); after a stream has begun
the same body is sent as an `event: error` frame.
"""

from __future__ import annotations

from typing import Any

from ...core import errors as E
from ...serving.errors import ErrorKind, ErrorTable
from ...serving.request_context import prefixed_request_id


def request_id() -> str:
    return prefixed_request_id("req_")


def _body(exc: Exception, kind: ErrorKind, message: str) -> dict[str, Any]:
    if isinstance(exc, E.ContextLengthExceeded):
        # Anthropic's wording; agents (Claude Code) look for it to compact their history and retry.
        message = f"prompt is too long: {message}"
    return {"type": "error", "error": {"type": kind.type, "message": message}, "request_id": request_id()}


ERRORS = ErrorTable(
    kinds={
        E.InvalidRequest: ErrorKind(400, "invalid_request_error"),
        E.AuthError: ErrorKind(401, "authentication_error"),
        E.NotFound: ErrorKind(404, "not_found_error"),
        # Anthropic says it "may use invalid_request_error for other 4XX status codes".
        E.MethodNotAllowed: ErrorKind(405, "invalid_request_error"),
        E.Forbidden: ErrorKind(403, "permission_error"),
        E.RequestTooLarge: ErrorKind(413, "request_too_large"),
        E.RequestTimeout: ErrorKind(408, "timeout_error"),
        E.Overloaded: ErrorKind(529, "overloaded_error"),
        E.GenerationFailed: ErrorKind(500, "api_error"),
    },
    fallback=ErrorKind(500, "api_error"),
    body=_body,
    internal_message="Internal server error",
    headers=lambda body: {"request-id": body["request_id"]},
)
