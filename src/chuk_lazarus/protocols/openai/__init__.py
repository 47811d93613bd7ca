"""The OpenAI protocol: `/v1/models`, `/v1/chat/completions`, `/v1/responses`, `/v1/completions`,
`/v1/embeddings`, and llama-server's `/tokenize` and `/detokenize` (see tokens.py for why they live here)."""

from __future__ import annotations

from .. import Protocol
from ..base import ProtocolSpec

TOKEN_PATHS = ("/tokenize", "/detokenize")


def owns_path(path: str) -> bool:
    return path.startswith("/v1") or path in TOKEN_PATHS


def spec() -> ProtocolSpec:
    from fastapi import APIRouter

    from .errors import ERRORS
    from .router import router
    from .tokens import router as tokens_router

    routes = APIRouter()
    routes.include_router(router)
    routes.include_router(tokens_router)
    return ProtocolSpec(protocol=Protocol.OPENAI, router=routes, owns_path=owns_path, errors=ERRORS)
