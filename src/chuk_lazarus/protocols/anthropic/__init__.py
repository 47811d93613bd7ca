"""The Anthropic protocol: `/v1/messages` (+ `/count_tokens`), and `/v1/models` when OpenAI is not served."""

from __future__ import annotations

from .. import Protocol
from ..base import ProtocolSpec


def owns_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


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
    )
