"""A decode batch: several sequences' KV caches held as one left-padded `DynamicCache`.

Sequences of different lengths decode together the way `generate()` runs a padded batch: the cache
is left-padded to a common length, a 2-D attention mask hides the padding, and each row gets its own
position ids. Joining and leaving are the only times tensors are copied (a concat or a row select),
so a decode step costs one forward pass for the whole batch.

Only caches made of plain full-attention `DynamicLayer`s can be merged like this; sliding-window or
recurrent layers keep per-row state that left-padding would corrupt, so such models decode each
sequence in its own batch of one (still correct, just not batched).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer


def mergeable(cache: DynamicCache) -> bool:
    return all(type(layer) is DynamicLayer for layer in cache.layers)


def _layers(cache: DynamicCache) -> list[DynamicLayer]:
    """The cache's layers, known to be plain `DynamicLayer`s once `mergeable` said so."""
    return [layer for layer in cache.layers if isinstance(layer, DynamicLayer)]


def _left_pad(t: torch.Tensor | None, n: int) -> torch.Tensor:
    """Pad `n` zero columns at the start of the sequence axis (-2 for K/V, -1 for masks)."""
    assert t is not None, "a prefilled cache layer holds tensors"
    if n == 0:
        return t
    dim = -2 if t.dim() == 4 else -1
    shape = list(t.shape)
    shape[dim] = n
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class DecodeBatch:
    """Rows are `members` in order; `mask[i]` is 1 where row i's cache column holds a real token."""

    def __init__(self, member: Any, cache: DynamicCache, length: int, device: str | torch.device) -> None:
        self.members: list[Any] = [member]
        self.cache = cache
        self.mask = torch.ones((1, length), dtype=torch.long, device=device)
        self.can_merge = mergeable(cache)

    def __len__(self) -> int:
        return len(self.members)

    def join(self, member: Any, cache: DynamicCache, length: int) -> None:
        """Add a freshly prefilled single-row cache of `length` tokens as a new last row."""
        have = self.mask.shape[1]
        width = max(have, length)
        for mine, theirs in zip(_layers(self.cache), _layers(cache)):
            mine.keys = torch.cat(
                [_left_pad(mine.keys, width - have), _left_pad(theirs.keys, width - length)]
            )
            mine.values = torch.cat(
                [_left_pad(mine.values, width - have), _left_pad(theirs.values, width - length)]
            )
        row = torch.ones((1, length), dtype=torch.long, device=self.mask.device)
        self.mask = torch.cat([_left_pad(self.mask, width - have), _left_pad(row, width - length)])
        self.members.append(member)

    def drop(self, rows: list[int]) -> None:
        """Remove rows; then cut leading columns that are padding in every remaining row."""
        keep = [i for i in range(len(self.members)) if i not in set(rows)]
        if not keep:
            self.members = []
            return
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.members = [self.members[i] for i in keep]
        self.mask = self.mask.index_select(0, index)
        start = int(self.mask.any(dim=0).long().argmax())  # first column some row still uses
        for layer in _layers(self.cache):
            layer.keys = _left_pad(layer.keys, 0).index_select(0, index)[:, :, start:, :]
            layer.values = _left_pad(layer.values, 0).index_select(0, index)[:, :, start:, :]
        self.mask = self.mask[:, start:]

    def step_inputs(self, runs: list[list[int]], positions: list[int]) -> dict[str, Any]:
        """Forward arguments for one decode step: each row's new tokens (one, or with the tokens its
        constraint forces after it), starting at that row's position. Shorter runs are left-padded
        with masked columns, so every row's last token is the last column (whose logits are read)."""
        device = self.mask.device
        width = max(len(run) for run in runs)
        if width == 1:
            ids = torch.tensor([run[0] for run in runs], dtype=torch.long, device=device).unsqueeze(1)
            pos = torch.tensor(positions, dtype=torch.long, device=device).unsqueeze(1)
            new = torch.ones((len(runs), 1), dtype=torch.long, device=device)
        else:
            ids = torch.zeros((len(runs), width), dtype=torch.long, device=device)
            pos = torch.zeros((len(runs), width), dtype=torch.long, device=device)
            new = torch.zeros((len(runs), width), dtype=torch.long, device=device)
            for i, (run, start) in enumerate(zip(runs, positions)):
                pad = width - len(run)
                ids[i, pad:] = torch.tensor(run, dtype=torch.long)
                pos[i, pad:] = torch.arange(start, start + len(run))
                new[i, pad:] = 1
        self.mask = torch.cat([self.mask, new], dim=1)
        return {
            "input_ids": ids,
            "position_ids": pos,
            "attention_mask": self.mask,
            "past_key_values": self.cache,
            "use_cache": True,
        }
