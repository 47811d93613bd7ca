"""The OpenAI protocol: `/v1/models` and `/v1/chat/completions`."""

from __future__ import annotations

from .. import Protocol
from ..base import ProtocolSpec


def spec() -> ProtocolSpec:
    from .errors import error_response
    from .router import router

    return ProtocolSpec(
        protocol=Protocol.OPENAI,
        router=router,
        owns_path=lambda path: path.startswith("/v1"),
        error_response=error_response,
        priority=0,
    )
