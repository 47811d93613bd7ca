"""The Anthropic protocol: `/v1/messages` (+ `/count_tokens`), and `/v1/models` for Anthropic's clients
(always when OpenAI is not served; when it is, for requests an Anthropic client sent)."""

from __future__ import annotations

from collections.abc import Mapping

from .. import Protocol
from ..base import ProtocolSpec


def owns_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def sent_by_anthropic_client(headers: Mapping[str, str]) -> bool:
    """Anthropic's SDKs always send `anthropic-version`; a bare `x-api-key` (no bearer token) is
    Anthropic's way of authenticating too. OpenAI's clients send neither."""
    if "anthropic-version" in headers:
        return True
    return "x-api-key" in headers and not headers.get("authorization", "").lower().startswith("bearer ")


def claims_request(path: str, headers: Mapping[str, str]) -> bool:
    """`/v1/models` and `/v1/models/{id}` asked by an Anthropic client get Anthropic's shapes."""
    return (path == "/v1/models" or path.startswith("/v1/models/")) and sent_by_anthropic_client(headers)


def spec() -> ProtocolSpec:
    from .errors import ERRORS
    from .router import router

    return ProtocolSpec(
        protocol=Protocol.ANTHROPIC,
        router=router,
        owns_path=owns_path,
        errors=ERRORS,
        # Asked before OpenAI, whose `/v1` prefix would otherwise claim `/v1/messages` too.
        priority=10,
        accepts_x_api_key=True,
        claims_request=claims_request,
    )
