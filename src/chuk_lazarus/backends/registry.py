"""Which backend loads a model: a table from backend name to the model format it takes and its factory.

The engine asks `create_backend` and imports no concrete backend; each factory is imported only when
chosen, so the base install never touches torch and a llama.cpp server never imports transformers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from ..core.errors import ModelLoadError
from ..core.settings import ModelSettings
from ..models.resolve import ModelFormat, ResolvedModel
from .base import Backend

BackendFactory = Callable[[Path, str, ModelSettings], Backend]


@dataclass(frozen=True)
class BackendEntry:
    format: ModelFormat  # the one model format this backend loads
    takes: str  # that format in words, for errors
    factory: str  # "module:attribute", relative to this package, imported when chosen
    # "module:function" run before the factory's module is imported: fails with one clear line when
    # an optional dependency is missing, instead of an ImportError from deep inside.
    precheck: str | None = None


BACKENDS: dict[str, BackendEntry] = {
    "llama.cpp": BackendEntry("gguf", "a GGUF model file", ".llama_cpp.backend:LlamaCppBackend"),
    "transformers": BackendEntry(
        "hf",
        "a Hugging Face model folder",
        ".transformers.backend:TransformersBackend",
        precheck=".transformers.loading:require_extra",
    ),
    # Never chosen by `auto` (transformers comes first for HF folders): only by --backend vllm.
    "vllm": BackendEntry(
        "hf",
        "a Hugging Face model folder",
        ".vllm.backend:VllmBackend",
        precheck=".vllm.loading:require_extra",
    ),
}


def create_backend(resolved: ResolvedModel, name: str, settings: ModelSettings) -> Backend:
    """Load `resolved` on `settings.backend` (`auto`: the backend for its format), served as `name`."""
    choice = backend_for(resolved, settings.backend)
    entry = BACKENDS[choice]
    if entry.precheck is not None:
        _load(entry.precheck)()
    factory = cast(BackendFactory, _load(entry.factory))
    return factory(resolved.path, name, settings)


def backend_for(resolved: ResolvedModel, requested: str) -> str:
    """The backend name that loads `resolved`; `ModelLoadError` when `requested` cannot."""
    if requested == "auto":
        for choice, entry in BACKENDS.items():
            if entry.format == resolved.format:
                return choice
        raise ModelLoadError(f"no backend loads {resolved.format} models ({resolved.path})")
    chosen = BACKENDS.get(requested)
    if chosen is None:
        known = ", ".join(["auto", *BACKENDS])
        raise ModelLoadError(f"unknown backend '{requested}' (use {known})")
    if chosen.format != resolved.format:
        raise ModelLoadError(f"the {requested} backend needs {chosen.takes}; {resolved.path} is not one")
    return requested


def _load(spec: str) -> Callable[..., object]:
    module, _, attribute = spec.partition(":")
    loaded: Callable[..., object] = getattr(importlib.import_module(module, __package__), attribute)
    return loaded
