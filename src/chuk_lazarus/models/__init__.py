"""Finding model files: local paths, the Hugging Face cache/Hub, and the embedded default model."""

from .resolve import ResolvedModel, resolve_model

__all__ = ["ResolvedModel", "resolve_model"]
