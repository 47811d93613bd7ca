"""What every OpenAI generation route checks first, written once for chat and responses."""

from __future__ import annotations

from ...core.errors import ModelNotFound
from ...engine.client import EngineClient
from ...serving.request_context import note_model


def check_model(engine: EngineClient, model: str, *, param: str | None = None) -> None:
    note_model(model)
    if not engine.serves(model):
        raise ModelNotFound(
            f"The model '{model}' does not exist; this server serves '{engine.model_name}'", param=param
        )
