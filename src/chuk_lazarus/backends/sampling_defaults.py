"""A model's own sampling defaults, read from what it ships, by SamplingParams' names.

Ollama ships per-model defaults in each Modelfile and vLLM applies a model's generation_config.json;
we read the same sources: newer GGUFs carry `general.sampling.*` keys, HF folders a
`generation_config.json`. A request that leaves a field out gets the server's flag, else this, else
its protocol's own default (see `ModelEngine`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

# GGUF key -> SamplingParams field (llama.cpp's LLM_KV_GENERAL_SAMPLING_* names).
_GGUF_KEYS = {
    "general.sampling.temp": "temperature",
    "general.sampling.top_p": "top_p",
    "general.sampling.top_k": "top_k",
    "general.sampling.min_p": "min_p",
    "general.sampling.penalty_repeat": "repeat_penalty",
}
# generation_config.json attribute -> SamplingParams field.
_HF_KEYS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repeat_penalty",
}


def from_gguf(meta: Callable[[str], str | None]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, name in _GGUF_KEYS.items():
        value = _number(meta(key))
        if value is not None:
            out[name] = value
    return out


def from_generation_config(config: Any) -> dict[str, float]:
    """From a transformers GenerationConfig (or None). As vLLM does, `do_sample` is not read: HF's own
    default for it is false, so it cannot tell a greedy model from a file that never said."""
    if config is None:
        return {}
    out: dict[str, float] = {}
    # Only what the file itself sets: GenerationConfig fills every field with library defaults.
    given = config.to_diff_dict() if hasattr(config, "to_diff_dict") else {}
    for key, name in _HF_KEYS.items():
        value = _number(given.get(key))
        if value is not None:
            out[name] = value
    return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
