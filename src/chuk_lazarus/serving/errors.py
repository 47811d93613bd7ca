"""Errors as HTTP answers: each protocol writes one table (error class -> status and its own body), and
everything around it — lookup by type along the MRO, `Retry-After`, `WWW-Authenticate`, the safe
message for unexpected exceptions — is written here once.

Mapping is by type, never by message text. An exception that is not a `LazarusError` is a bug of ours:
its text is not shown to the client (it may hold internals), only the protocol's "internal error".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from ..core import errors as E
from .request_context import note_error


@dataclass(frozen=True)
class ErrorKind:
    """How one class of error is answered in one protocol."""

    status: int
    type: str = ""  # the protocol's error type name, where it has one
    code: str | None = None  # OpenAI's machine-readable `code`


@dataclass(frozen=True)
class ErrorTable:
    """One protocol's error answers. `body(exc, kind, message)` builds its JSON body; `message` is
    already safe to show."""

    kinds: Mapping[type[Exception], ErrorKind]
    fallback: ErrorKind
    body: Callable[[Exception, ErrorKind, str], dict[str, Any]]
    internal_message: str = "internal server error"
    # Extra headers from the body (Anthropic repeats its `request_id` as a `request-id` header).
    headers: Callable[[dict[str, Any]], dict[str, str]] = field(default=lambda _body: {})

    def kind(self, exc: Exception) -> ErrorKind:
        for cls in type(exc).__mro__:
            kind = self.kinds.get(cls)
            if kind is not None:
                return kind
        return self.fallback

    def message(self, exc: Exception) -> str:
        return exc.message if isinstance(exc, E.LazarusError) else self.internal_message

    def body_of(self, exc: Exception) -> dict[str, Any]:
        return self.body(exc, self.kind(exc), self.message(exc))

    def response(self, exc: Exception) -> JSONResponse:
        note_error(exc)  # for the request's access line and metrics
        body = self.body_of(exc)
        headers = dict(self.headers(body))
        if isinstance(exc, E.Overloaded):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, E.AuthError):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(body, status_code=self.kind(exc).status, headers=headers)
