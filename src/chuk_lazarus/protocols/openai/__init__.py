"""The OpenAI protocol: `/v1/models`, `/v1/chat/completions`, `/v1/responses` and `/v1/embeddings`."""

from __future__ import annotations

from .. import Protocol
from ..base import ProtocolSpec


def spec() -> ProtocolSpec:
    from .errors import ERRORS
    from .router import router

    return ProtocolSpec(
        protocol=Protocol.OPENAI, router=router, owns_path=lambda path: path.startswith("/v1"), errors=ERRORS
    )
