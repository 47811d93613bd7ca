"""The vLLM backend: HF model folders and Hub ids on vLLM's `AsyncLLM` (the `vllm` extra).

vLLM schedules, batches, caches prefixes and samples; lazarus keeps planning (chat template, tools,
reasoning), output parsing and the protocols. Importing this package imports neither vLLM nor torch;
`VllmBackend` does, and says which package to install when vLLM is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import VllmBackend

__all__ = ["VllmBackend"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .loading import require_extra

        require_extra()
        from . import backend

        return getattr(backend, name)
    raise AttributeError(name)
