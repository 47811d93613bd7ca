"""The error tree in Anthropic's shape: `{"type": "error", "error": {"type", "message"}, "request_id"}`.

Statuses follow Anthropic's table (overload is 529, which its SDKs retry); after a stream has begun
the same body is sent as an `event: error` frame.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.responses import JSONResponse, Response

from ...engine import errors as E

# (status, type) by error class; the most specific class wins (looked up along the MRO).
_MAPPING: dict[type[Exception], tuple[int, str]] = {
    E.InvalidRequest: (400, "invalid_request_error"),
    E.AuthError: (401, "authentication_error"),
    E.NotFound: (404, "not_found_error"),
    # Anthropic says it "may use invalid_request_error for other 4XX status codes".
    E.MethodNotAllowed: (405, "invalid_request_error"),
    E.RequestTooLarge: (413, "request_too_large"),
    E.Overloaded: (529, "overloaded_error"),
    E.GenerationFailed: (500, "api_error"),
}


def request_id() -> str:
    return "req_" + secrets.token_hex(12)


def _classify(exc: Exception) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in _MAPPING:
            return _MAPPING[cls]
    return 500, "api_error"


def error_body(exc: Exception, rid: str | None = None) -> dict[str, Any]:
    _, kind = _classify(exc)
    message = exc.message if isinstance(exc, E.LazarusError) else "Internal server error"
    if isinstance(exc, E.ContextLengthExceeded):
        # Anthropic's wording; agents (Claude Code) look for it to compact their history and retry.
        message = f"prompt is too long: {message}"
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": rid or request_id()}


def error_response(exc: Exception) -> Response:
    status, _ = _classify(exc)
    rid = request_id()
    headers = {"request-id": rid}
    if isinstance(exc, E.Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse(error_body(exc, rid), status_code=status, headers=headers)


def error_event(exc: Exception) -> bytes:
    """The in-stream error frame, for failures after the 200 and the first events were sent."""
    data = json.dumps(error_body(exc), ensure_ascii=False, separators=(",", ":"))
    return f"event: error\ndata: {data}\n\n".encode()
