"""The HTTP server: `create_app(engine, protocols=...)` and what the SPEC's programmatic example imports."""

from ..engine import ModelEngine
from ..protocols import Protocol
from .app import attach_engine, create_app

__all__ = ["ModelEngine", "Protocol", "attach_engine", "create_app"]
