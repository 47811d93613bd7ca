"""The error tree in Ollama's shape: `{"error": "…"}`, with the status Ollama itself answers."""

from __future__ import annotations

from typing import Any

from ...core import errors as E
from ...serving.errors import ErrorKind, ErrorTable


def _body(_exc: Exception, _kind: ErrorKind, message: str) -> dict[str, Any]:
    return {"error": message}


ERRORS = ErrorTable(
    kinds={
        E.InvalidRequest: ErrorKind(400),  # includes ContextLengthExceeded and UnsupportedFeature
        E.NotFound: ErrorKind(404),  # includes ModelNotFound
        E.MethodNotAllowed: ErrorKind(405),
        E.AuthError: ErrorKind(401),
        E.Forbidden: ErrorKind(403),
        E.RequestTooLarge: ErrorKind(413),
        E.RequestTimeout: ErrorKind(408),
        E.Overloaded: ErrorKind(503),  # Ollama: "server busy, please try again.  maximum pending requests exceeded"
        E.GenerationFailed: ErrorKind(500),
    },
    fallback=ErrorKind(500),
    body=_body,
)
