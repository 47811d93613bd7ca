"""Turning `--model` into a file on disk: a `.gguf` path, a folder, a Hub id, or the embedded default.

Every failure is a `ModelLoadError` with one line that names the problem and what to do about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..core.errors import ModelLoadError
from .embedded import EMBEDDED_ALIASES, EMBEDDED_NAME, EMBEDDED_SAMPLING, embedded_gguf_path

ModelFormat = Literal["gguf", "hf"]

# When a folder or repo holds several GGUF files and no quant was asked for, the first present wins.
_QUANT_PREFERENCE = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q8_0", "Q6_K", "Q4_0", "F16", "BF16")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(:[\w.\-]+)?$")


@dataclass(frozen=True)
class ResolvedModel:
    path: Path  # the .gguf file, or the folder of an HF model
    name: str  # the name the model is served under, unless an alias overrides it
    format: ModelFormat
    # Sampling defaults we ship for this model, over what its files say (the embedded model's).
    sampling_defaults: dict[str, float] = field(default_factory=dict)


def resolve_model(model: str | None, *, allow_pickle: bool = False) -> ResolvedModel:
    """`allow_pickle`: accept a Hub repo whose only weights are pickle checkpoints (.bin/.pt)."""
    if model is None or model.lower() in EMBEDDED_ALIASES:
        variant = EMBEDDED_ALIASES.get((model or "").lower(), "f16")
        name = EMBEDDED_NAME if variant == "f16" else f"{EMBEDDED_NAME}:{variant}"
        return ResolvedModel(embedded_gguf_path(variant), name, "gguf", dict(EMBEDDED_SAMPLING))
    path = Path(model).expanduser()
    if path.exists():
        return _resolve_local(path)
    looks_like_path = model.endswith(".gguf") or model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path:
        raise ModelLoadError(f"model path not found: {model}")
    if _HUB_ID.match(model):
        return _resolve_hub(model, allow_pickle=allow_pickle)
    raise ModelLoadError(
        f"'{model}' is neither an existing file or folder nor a Hugging Face id like 'org/name' or 'org/name:Q4_K_M'"
    )


def served_name(model: str | None) -> str:
    """The name `resolve_model(model)` serves the model under, found without downloading or loading."""
    if model is None or model.lower() in EMBEDDED_ALIASES:
        variant = EMBEDDED_ALIASES.get((model or "").lower(), "f16")
        return EMBEDDED_NAME if variant == "f16" else f"{EMBEDDED_NAME}:{variant}"
    path = Path(model).expanduser()
    if path.is_file():
        return path.stem
    if path.is_dir():
        return path.name
    return model  # a Hub id is served as given


def _resolve_local(path: Path) -> ResolvedModel:
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelLoadError(f"not a GGUF file: {path} (give a .gguf file or a model folder)")
        return ResolvedModel(path, path.stem, "gguf")
    ggufs = sorted(path.glob("*.gguf"))
    if ggufs:
        return ResolvedModel(pick_gguf([g.name for g in ggufs], None, where=str(path), base=path), path.name, "gguf")
    if (path / "config.json").is_file():
        return ResolvedModel(path, path.name, "hf")
    raise ModelLoadError(f"no model found in folder {path} (expected a .gguf file, or config.json with weights)")


def pick_gguf(files: list[str], quant: str | None, *, where: str, base: Path) -> Path:
    """Choose one GGUF among `files`: the one matching `quant`, or by preference, or the only one."""
    candidates = [f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower()]
    if quant:
        wanted = [f for f in candidates if quant.lower() in Path(f).name.lower()]
        if not wanted:
            raise ModelLoadError(f"no GGUF file matching '{quant}' in {where} (have: {', '.join(candidates)})")
        candidates = wanted
    if len(candidates) == 1:
        return base / candidates[0]
    for preferred in _QUANT_PREFERENCE:
        for f in candidates:
            if preferred.lower() in Path(f).name.lower():
                return base / f
    if candidates:
        return base / sorted(candidates)[0]
    raise ModelLoadError(f"no GGUF file in {where}")


_HF_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"]
_PICKLE_PATTERNS = ["*.bin", "*.pt", "*.pth"]


def _hf_weights_patterns(repo: str, files: list[str], *, allow_pickle: bool) -> list[str]:
    """What to download of an HF repo: safetensors only, unless pickle weights are all it has and allowed."""
    names = [f.rsplit("/", 1)[-1] for f in files]
    if any(n.endswith(".safetensors") for n in names):
        return _HF_PATTERNS
    if any(n.endswith((".bin", ".pt", ".pth")) and not n.startswith("training_args") for n in names):
        if allow_pickle:
            return _HF_PATTERNS + _PICKLE_PATTERNS
        raise ModelLoadError(
            f"Hugging Face repo '{repo}' has only pickle weights (.bin/.pt), which can run code when loaded; "
            "pass --allow-pickle if you trust it"
        )
    raise ModelLoadError(f"Hugging Face repo '{repo}' has config.json but no model weights (*.safetensors)")


def _resolve_hub(model: str, *, allow_pickle: bool = False) -> ResolvedModel:
    """Download once into the standard Hugging Face cache (with a progress bar), then load from there."""
    from huggingface_hub import hf_hub_download, list_repo_files, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo, _, quant = model.partition(":")
    try:
        try:
            files = list_repo_files(repo)
        except (RepositoryNotFoundError, GatedRepoError):
            raise
        except Exception:
            # Offline (HF_HUB_OFFLINE=1 or no network): fall back to what the cache already holds.
            cached = Path(snapshot_download(repo, local_files_only=True))
            files = [str(p.relative_to(cached)) for p in cached.rglob("*") if p.is_file()]
        if any(f.lower().endswith(".gguf") for f in files):
            chosen = pick_gguf(files, quant or None, where=repo, base=Path())
            local = hf_hub_download(repo, str(chosen))
            return ResolvedModel(Path(local), model, "gguf")
        if "config.json" in files:
            patterns = _hf_weights_patterns(repo, files, allow_pickle=allow_pickle)
            folder = snapshot_download(repo, allow_patterns=patterns)
            return ResolvedModel(Path(folder), model, "hf")
        raise ModelLoadError(f"Hugging Face repo '{repo}' has neither GGUF files nor config.json")
    except LocalEntryNotFoundError:
        raise ModelLoadError(
            f"'{repo}' is not in the local Hugging Face cache and the Hub cannot be reached "
            "(offline?); connect once to download it, or pass a local path"
        ) from None
    except GatedRepoError:
        raise ModelLoadError(
            f"'{repo}' is gated: accept its license on the Hub and set HF_TOKEN (or run `hf auth login`)"
        ) from None
    except RepositoryNotFoundError:
        raise ModelLoadError(f"no such Hugging Face repo: '{repo}' (or it is private and HF_TOKEN is not set)") from None
