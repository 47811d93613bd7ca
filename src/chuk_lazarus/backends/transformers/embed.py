"""Embeddings on transformers: the loaded model's base (no LM head), pooled over its last hidden state.

Pooling: the model folder's sentence-transformers configuration when it has one (`modules.json`
naming a `Pooling` module, whose `config.json` says mean, CLS, last-token or max), else the
attention-masked mean — what llama.cpp does for a chat model without pooling metadata. The batcher
(backends/embedding.py) L2-normalizes every vector.

A batch is right-padded to its longest input with an attention mask: for a causal model the real
tokens keep positions 0..n-1 and never attend to the padding after them; for an encoder the mask
hides it. Runs on the embedding worker thread under its own `torch.inference_mode()` (thread-local).
"""

from __future__ import annotations

import json
import logging
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)

POOLINGS = ("mean", "cls", "last", "max")
_ST_MODES = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_lasttoken": "last",
    "pooling_mode_max_tokens": "max",
}


def sentence_transformers_pooling(folder: Path) -> str | None:
    """The pooling a sentence-transformers folder declares (`modules.json` + `<Pooling>/config.json`),
    or None when it has none we can follow."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return None
    for module in modules if isinstance(modules, list) else []:
        if not isinstance(module, dict) or not str(module.get("type", "")).endswith("Pooling"):
            continue
        try:
            config = json.loads((folder / str(module.get("path", "")) / "config.json").read_text())
        except (OSError, ValueError):
            return None
        for key, name in _ST_MODES.items():
            if config.get(key):
                return name
        log.warning("unsupported sentence-transformers pooling in %s; using mean pooling", folder)
        return None
    return None


class TransformersEmbedRunner:
    def __init__(self, model: Any, *, device: str, pooling: str, pad_id: int) -> None:
        self.base = getattr(model, "base_model", model)  # LlamaForCausalLM -> LlamaModel: no LM head
        self.device = device
        self.pooling = pooling
        self.pad_id = pad_id

    def worker(self) -> AbstractContextManager[None]:
        return torch.inference_mode()

    def run(self, batch: list[list[int]]) -> np.ndarray:
        longest = max(len(tokens) for tokens in batch)
        ids = torch.full((len(batch), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, : len(tokens)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.base(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "last":
            lengths = mask.sum(dim=1) - 1
            pooled = hidden[torch.arange(len(batch), device=hidden.device), lengths]
        elif self.pooling == "max":
            pooled = hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
        else:
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        result: np.ndarray = pooled.cpu().numpy()
        return result

    def close(self) -> None:
        self.base = None
