"""Logprobs from llama.cpp's rows of logits: the sampled token's (with the best alternatives) and a
scored prompt's, in float64 so a long vocabulary's normalizer loses nothing."""

from __future__ import annotations

import numpy as np

from ..base import RawLogprob


def row_logprob(row: np.ndarray, token: int, top_n: int) -> RawLogprob:
    """The logprob of `token` under one row of logits, with the `top_n` best of that row."""
    logits = row.astype(np.float64)
    peak = logits.max()
    logz = peak + np.log(np.exp(logits - peak).sum())
    top: tuple[tuple[int, float], ...] = ()
    if top_n > 0:
        best = np.argpartition(-logits, top_n)[:top_n]
        best = best[np.argsort(-logits[best])]
        top = tuple((int(t), float(logits[t] - logz)) for t in best)
    return RawLogprob(float(logits[token] - logz), top)


def prompt_logprobs(rows: np.ndarray, targets: list[int], top_n: int) -> list[RawLogprob]:
    """The logprob of `targets[i]` under row i of `rows` (logits), with the `top_n` best of that row."""
    return [row_logprob(row, target, top_n) for row, target in zip(rows, targets)]
