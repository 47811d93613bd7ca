"""API-key checks. Constant-time comparison; which headers count is each protocol's choice."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..core.errors import AuthError
from .state import config_of


def presented_keys(request: Request, *, x_api_key: bool = False) -> list[str]:
    keys = []
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        keys.append(token.strip())
    if x_api_key and request.headers.get("x-api-key"):
        keys.append(request.headers["x-api-key"].strip())
    return keys


def check_api_key(request: Request, *, x_api_key: bool = False) -> None:
    """Raise `AuthError` unless the request carries the server's key (no-op when auth is off)."""
    expected = config_of(request).api_key
    if not expected:
        return
    keys = presented_keys(request, x_api_key=x_api_key)
    if not keys:
        where = "an 'x-api-key' header or " if x_api_key else ""
        raise AuthError(f"missing API key: send {where}'Authorization: Bearer <key>'")
    # Compare every presented key, without short-circuiting, in constant time.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(key.encode(), expected.encode())
    if not ok:
        raise AuthError("incorrect API key provided")
