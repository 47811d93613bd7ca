"""The served model as Ollama describes models: names with tags, `/api/tags`, `/api/show`, `/api/ps` entries."""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Any

from ...core.errors import InvalidRequest, ModelNotFound
from ...core.types import ModelInfo
from ...engine.client import EngineClient
from ...serving.request_context import note_model
from .render import iso

# What tools that probe `/api/version` see. They gate features (tools, structured outputs) on it, and
# what we implement is the API of this Ollama release; our own version is reported alongside.
OLLAMA_COMPAT_VERSION = "0.12.0"

# Ollama's name grammar, loosely: [host/][namespace/]model[:tag], each part starting with a letter,
# digit or underscore. Anything else (`../../etc`, `/etc/passwd`, `C:\x`) is not a model name.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_NAME = re.compile(rf"^{_PART}(?:/{_PART})*(?::{_PART})?$")
_MAX_NAME = 350

# One model that never unloads: its `expires_at` is far away, as Ollama shows for `keep_alive: -1`.
_FOREVER_S = 100 * 365 * 24 * 3600


def tagged(name: str) -> str:
    """`smollm2` -> `smollm2:latest`; a name that already has a tag keeps it."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def served_names(engine: EngineClient) -> list[str]:
    return [engine.model_name, *engine.aliases]


def is_served(engine: EngineClient, requested: str) -> bool:
    want = requested.strip().lower()
    return any(want in (name.lower(), tagged(name).lower()) for name in served_names(engine))


def check_model(engine: EngineClient, requested: str) -> None:
    """Raise Ollama's errors for a request's `model`: required, a valid name, and ours."""
    note_model(requested)
    if not requested.strip():
        raise InvalidRequest("model is required", param="model")
    if is_served(engine, requested):
        return
    check_name(requested)
    raise ModelNotFound(f"model '{requested}' not found", param="model")


def check_name(requested: str) -> None:
    """Raise unless `requested` is a well-formed model name (served or not)."""
    if not requested.strip():
        raise InvalidRequest("model is required", param="model")
    if not is_valid_name(requested):
        raise InvalidRequest("invalid model name", param="model")


def is_valid_name(name: str) -> bool:
    return len(name) <= _MAX_NAME and bool(_NAME.match(name)) and ".." not in name


def parameter_size(info: ModelInfo) -> str:
    label = str(info.extra.get("size_label") or "")
    if label:
        return label
    n = info.parameter_count
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.0f}M"
    return str(n) if n else ""


def details(info: ModelInfo) -> dict[str, Any]:
    family = info.architecture or ""
    return {
        "parent_model": "",
        "format": info.file_format or info.backend,
        "family": family,
        "families": [family] if family else None,
        "parameter_size": parameter_size(info),
        "quantization_level": info.quantization,
    }


def _file_facts(engine: EngineClient) -> tuple[int, float, str]:
    """Size in bytes, modification time and a stable digest of the model file (or folder)."""
    path = engine.info.path
    try:
        stat = os.stat(path)
        size, mtime = stat.st_size, stat.st_mtime
        if os.path.isdir(path):  # an HF folder: the model is its files (weights, tokenizer, config)
            files = [os.stat(e.path) for e in os.scandir(path) if e.is_file()]
            size = sum(f.st_size for f in files)
            mtime = max((f.st_mtime for f in files), default=mtime)
    except OSError:
        size, mtime = 0, engine.loaded_at
    # Hashing gigabytes per request is too slow; the digest identifies this file, not its bytes.
    digest = hashlib.sha256(f"{path}\0{size}\0{mtime}".encode()).hexdigest()
    return size, mtime, digest


def tags_entry(engine: EngineClient) -> dict[str, Any]:
    size, mtime, digest = _file_facts(engine)
    name = tagged(engine.model_name)
    return {
        "name": name,
        "model": name,
        "modified_at": iso(mtime),
        "size": size,
        "digest": digest,
        "details": details(engine.info),
    }


def ps_entry(engine: EngineClient) -> dict[str, Any]:
    size, _, digest = _file_facts(engine)
    name = tagged(engine.model_name)
    return {
        "name": name,
        "model": name,
        "size": size,
        "digest": digest,
        "details": details(engine.info),
        "expires_at": iso(time.time() + _FOREVER_S),
        "size_vram": 0,
        "context_length": engine.info.context_length,
    }


def show(engine: EngineClient) -> dict[str, Any]:
    info = engine.info
    _, mtime, _ = _file_facts(engine)
    arch = info.architecture or "unknown"
    model_info: dict[str, Any] = {
        "general.architecture": arch,
        "general.name": engine.model_name,
        "general.parameter_count": info.parameter_count,
        # The context a request can use here (per sequence), not the length the model was trained on.
        f"{arch}.context_length": info.context_length,
    }
    if info.extra.get("context_length_train"):
        model_info["lazarus.context_length_train"] = info.extra["context_length_train"]
    model_info["lazarus.backend"] = info.backend
    # Ollama's `parameters`: one "name value" line each; the sampling defaults requests get here.
    parameters = {"num_ctx": info.context_length, **engine.sampling_defaults}
    return {
        "license": "",
        "modelfile": (
            "# Modelfile generated by lazarus (for reference; this server does not create models)\n"
            f"FROM {info.path}\nPARAMETER num_ctx {info.context_length}\n"
        ),
        "parameters": "\n".join(f"{name:<30} {_number(value)}" for name, value in parameters.items()),
        # The model's own chat template (Jinja), which is what renders prompts here.
        "template": info.chat_template,
        "details": details(info),
        "model_info": model_info,
        "capabilities": capabilities(info, thinks=engine.reasoning_format != "none"),
        "modified_at": iso(mtime),
    }


def capabilities(info: ModelInfo, *, thinks: bool = False) -> list[str]:
    """What `/api/show` says the model can do; clients (LangChain, Open WebUI) gate features on it."""
    if not info.generates:
        return ["embedding"]
    return ["completion", "tools", "thinking"] if thinks else ["completion", "tools"]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
