"""The Ollama protocol: `/`, `/api/version`, `/api/tags`, `/api/show`, `/api/ps`, `/api/chat`, `/api/generate`."""

from __future__ import annotations

from .. import Protocol
from ..base import ProtocolSpec


def owns_path(path: str) -> bool:
    return path == "/" or path == "/api" or path.startswith("/api/")


def spec() -> ProtocolSpec:
    from .errors import ERRORS
    from .router import router

    return ProtocolSpec(protocol=Protocol.OLLAMA, router=router, owns_path=owns_path, errors=ERRORS)
