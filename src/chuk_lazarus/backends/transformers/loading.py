"""Loading an HF model folder with transformers: the extra's imports, device/dtype choice, weight checks.

Every failure is a `ModelLoadError` with one line that says what to do; a model folder is untrusted
input, so remote code and pickle checkpoints stay refused unless the user opts in.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import ModelLoadError
from ...core.settings import ModelSettings

log = logging.getLogger(__name__)

_EXTRA_HINT = "install the extra: pip install 'chuk-lazarus[transformers]'"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
_DTYPES = ("float32", "float16", "bfloat16")


def require_extra() -> None:
    """Fail with one line when torch/transformers/llguidance are missing (the base install is light)."""
    quiet_openmp()
    missing = []
    for module in ("torch", "transformers", "llguidance"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ModelLoadError(f"the transformers backend needs {', '.join(missing)}: {_EXTRA_HINT}")


def quiet_openmp() -> None:
    """Let torch's idle OpenMP threads sleep instead of spinning, unless the user chose otherwise.

    torch's CPU build uses libgomp, whose threads spin-wait at the end of every parallel region
    (every matmul). When the cores are shared (the server's own event-loop thread, other processes)
    a spinning thread holds a core its partner in the next region needs: measured here on 2 busy
    cores, a 4-row decode step took ~1.5 s spinning and ~0.15 s passive. libgomp reads this once,
    when it is first loaded: by torch, or earlier by llama.cpp (its ggml links the same system
    libgomp), so it only takes effect if neither has been loaded in this process yet."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def choose_device(requested: str) -> str:
    """`auto`: CUDA, then Apple MPS, else CPU. An explicit device is checked, not silently replaced."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device '{requested}' was asked for but CUDA is not available here")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError("device 'mps' was asked for but Apple MPS is not available here")
    return requested


def choose_dtype(requested: str, device: str) -> Any:
    """`auto`: float32 on CPU (half precision is slow and lossy there), bfloat16/float16 on accelerators."""
    import torch

    if requested != "auto":
        if requested not in _DTYPES:
            raise ModelLoadError(f"unknown dtype '{requested}' (use auto, {', '.join(_DTYPES)})")
        return getattr(torch, requested)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def check_weights(folder: Path, *, allow_pickle: bool) -> None:
    """Safetensors only by default: a pickle checkpoint can run arbitrary code when loaded."""
    files = [p.name for p in folder.iterdir() if p.is_file()]
    if any(f.endswith(".safetensors") for f in files):
        return
    pickles = [f for f in files if f.endswith(_PICKLE_SUFFIXES) and not f.startswith("training_args")]
    if pickles and not allow_pickle:
        raise ModelLoadError(
            f"{folder} has only pickle weights ({pickles[0]}), which can run code when loaded; "
            "convert them to safetensors, or pass --allow-pickle if you trust the source"
        )
    if not pickles:
        raise ModelLoadError(f"no model weights (*.safetensors) found in {folder}")


def check_remote_code(folder: Path, *, trust_remote_code: bool) -> None:
    """Say clearly that a model needs its own Python code, instead of transformers' long error."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {folder / 'config.json'}: {exc}") from None
    if "auto_map" in config and not trust_remote_code:
        raise ModelLoadError(
            f"{folder} ships its own model code (auto_map in config.json), which is not run by default; "
            "pass --trust-remote-code if you trust the source"
        )


@dataclass
class Loaded:
    model: Any  # a transformers PreTrainedModel, in eval mode, on `device`
    tokenizer: Any  # a PreTrainedTokenizerFast
    device: str
    dtype: Any


def load_model(folder: Path, settings: ModelSettings) -> Loaded:
    """The model and tokenizer, on `settings.device` in `settings.dtype` (see `choose_*`)."""
    require_extra()
    device, dtype = settings.device, settings.dtype
    trust_remote_code, allow_pickle = settings.trust_remote_code, settings.allow_pickle
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"not a Hugging Face model folder (no config.json): {folder}")
    check_remote_code(folder, trust_remote_code=trust_remote_code)
    check_weights(folder, allow_pickle=allow_pickle)
    chosen_device = choose_device(device)
    chosen_dtype = choose_dtype(dtype, chosen_device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any failure inside transformers is a load error
        raise ModelLoadError(f"could not load the tokenizer from {folder}: {_one_line(exc)}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"{folder} has no fast tokenizer (tokenizer.json); the transformers backend needs one"
        )
    model: Any
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(folder),
            dtype=chosen_dtype,
            trust_remote_code=trust_remote_code,
            # True makes transformers refuse .bin files itself too; None lets it fall back to them.
            use_safetensors=None if allow_pickle else True,
        )
    except Exception as exc:  # noqa: BLE001 - any failure inside transformers is a load error
        raise ModelLoadError(f"could not load the model from {folder}: {_one_line(exc)}") from None
    model = model.to(chosen_device).eval()
    log.info("loaded %s on %s as %s", folder, chosen_device, str(chosen_dtype).removeprefix("torch."))
    return Loaded(model, tokenizer, chosen_device, chosen_dtype)


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
