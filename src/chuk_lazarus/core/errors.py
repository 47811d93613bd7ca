"""The one error tree of the server.

Anything below the HTTP layer raises one of these; each protocol maps them by *type* (never by
message text) to its own status code and error body, once, in its `errors.py`.

    LazarusError
    ├── InvalidRequest            the caller sent something we cannot honour (400)
    │   ├── ContextLengthExceeded the prompt does not fit the context window (400)
    │   └── UnsupportedFeature    well-formed, but this model/server cannot do it (400)
    ├── NotFound                  no such route (404)
    │   └── ModelNotFound         the request names a model we do not serve (404)
    ├── MethodNotAllowed          the route exists, not with this method (405)
    ├── AuthError                 missing or wrong credentials (401)
    ├── Forbidden                 not served to this caller, e.g. a foreign Host header (403)
    ├── RequestTooLarge           the body is over the size limit (413)
    ├── RequestTimeout            the body did not arrive in time (408)
    ├── Overloaded                the admission queue is full; retry later (503 / Anthropic 529)
    ├── ModelLoadError            the model could not be found, fetched or loaded (CLI exit)
    └── GenerationFailed          the backend failed while generating (500)
"""

from __future__ import annotations


class LazarusError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param  # the request field at fault, when there is one


class InvalidRequest(LazarusError):
    pass


class ContextLengthExceeded(InvalidRequest):
    pass


class UnsupportedFeature(InvalidRequest):
    pass


class NotFound(LazarusError):
    pass


class ModelNotFound(NotFound):
    pass


class MethodNotAllowed(LazarusError):
    pass


class AuthError(LazarusError):
    pass


class Forbidden(LazarusError):
    pass


class RequestTooLarge(LazarusError):
    pass


class RequestTimeout(LazarusError):
    pass


class Overloaded(LazarusError):
    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelLoadError(LazarusError):
    pass


class GenerationFailed(LazarusError):
    pass


def param_path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """The one notation of every error's `param`: `("messages", 0, "content")` -> `messages[0].content`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
