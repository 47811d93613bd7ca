"""The transformers backend: Hugging Face safetensors models through torch (the `transformers` extra).

Importing this package does not import torch; `TransformersBackend` does, and says which extra to
install when it is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import TransformersBackend

__all__ = ["TransformersBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .loading import require_extra

        require_extra()
        from . import backend

        return getattr(backend, name)
    raise AttributeError(name)
