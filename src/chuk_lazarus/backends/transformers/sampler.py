"""Per-sequence sampling over one row of logits, with llama.cpp's semantics so both backends agree.

The order is llama.cpp's sampler chain: constraint mask, logit bias, penalties (over the last 64
sampled tokens), then greedy — or top-k, top-p, min-p, temperature and a seeded draw. Constraints are
the same llguidance ones the llama.cpp backend enforces (backends/guidance.py).
"""

from __future__ import annotations

import collections
import logging

import torch

from ...core.types import SamplingParams
from ..base import RawLogprob
from ..guidance import Guide

log = logging.getLogger(__name__)

# How far back presence/frequency/repeat penalties look (llama.cpp's default, as in its backend).
_PENALTY_LAST_N = 64


class SequenceSampler:
    def __init__(self, params: SamplingParams, guide: Guide | None = None) -> None:
        self.params = params
        self.recent: collections.deque[int] = collections.deque(maxlen=_PENALTY_LAST_N)
        self.generator: torch.Generator | None = None
        if not params.greedy:
            # One generator per sequence: a seeded request draws the same tokens whatever else runs.
            self.generator = torch.Generator(device="cpu")
            if params.seed is None:
                self.generator.seed()
            else:
                self.generator.manual_seed(params.seed & 0xFFFFFFFFFFFFFFFF)
        self.guide = guide
        bias = params.logit_bias
        self.bias_ids = torch.tensor(list(bias.keys()), dtype=torch.long) if bias else None
        self.bias_values = torch.tensor(list(bias.values()), dtype=torch.float32) if bias else None

    @property
    def plain(self) -> bool:
        """No constraint, logit bias or penalties: the choice depends on the row's logits alone."""
        return not self._constrained and not self.params.logit_bias and not self.params.penalized

    @property
    def _constrained(self) -> bool:
        return self.guide is not None and self.guide.enabled

    @property
    def plain_greedy(self) -> bool:
        """An argmax over the row's logits is the token (a constraint dropped mid-way counts as none)."""
        return not self._constrained and self.params.plain_greedy

    def sample(self, row: torch.Tensor, logprobs: int | None) -> tuple[int, RawLogprob | None]:
        """Pick the next token from one row of logits (any device/dtype); accept it into the grammar."""
        raw = row.detach().to("cpu", torch.float32)
        logits = raw
        if not self.plain:
            logits = raw.clone()  # edited in place below; `raw` stays the model's own distribution
            if self.guide is not None and self.guide.active:
                allowed = self.guide.allowed()
                if allowed.any():
                    n = min(allowed.shape[0], logits.shape[0])
                    logits[n:] = float("-inf")
                    logits[:n][~torch.from_numpy(allowed[:n])] = float("-inf")
                else:
                    self.guide.dead_end()
            if self.bias_ids is not None and self.bias_values is not None:
                valid = self.bias_ids < logits.shape[0]
                logits[self.bias_ids[valid]] += self.bias_values[valid]
            self._penalize(logits)
        token = int(torch.argmax(logits)) if self.params.greedy else self._draw(logits)
        return self.accept(token, raw, logprobs)

    def accept(
        self, token: int, raw: torch.Tensor | None = None, logprobs: int | None = None
    ) -> tuple[int, RawLogprob | None]:
        """Record a chosen token (constraint state, penalty window) and its logprob from the raw row."""
        if self.guide is not None:
            self.guide.accept(token)
        self.recent.append(token)
        return token, (_logprob(raw, token, logprobs) if raw is not None and logprobs is not None else None)

    def forced(self) -> list[int]:
        """The tokens the constraint forces next (accepted into it and the penalty window): fast-forward."""
        if self.guide is None:
            return []
        tokens = self.guide.forced()
        self.recent.extend(tokens)
        return tokens

    def _penalize(self, logits: torch.Tensor) -> None:
        p = self.params
        if not self.recent or not p.penalized:
            return
        counts = collections.Counter(self.recent)
        ids = torch.tensor(list(counts.keys()), dtype=torch.long)
        n = torch.tensor(list(counts.values()), dtype=torch.float32)
        values = logits[ids]
        if p.repeat_penalty != 1.0:
            values = torch.where(values <= 0, values * p.repeat_penalty, values / p.repeat_penalty)
        values = values - n * p.frequency_penalty - p.presence_penalty
        logits[ids] = values

    def _draw(self, logits: torch.Tensor) -> int:
        """top-k, top-p, min-p, temperature, then one seeded draw; `logits` is not modified.

        Works on a shrinking candidate list (ids with their logits, best first once cut) as llama.cpp
        does, so a top-k/top-p request never sorts the whole vocabulary."""
        p = self.params
        ids: torch.Tensor | None = None  # None: every token, in id order
        values = logits
        if 0 < p.top_k < values.shape[0]:
            values, ids = torch.topk(values, p.top_k)
        if p.top_p < 1.0:
            values, ids = _nucleus(values, ids, p.top_p)
        if p.min_p > 0.0:
            probs = torch.softmax(values, dim=-1)
            keep = probs >= p.min_p * probs.max()
            values = values[keep]
            ids = keep.nonzero().squeeze(1) if ids is None else ids[keep]
        probs = torch.softmax(values / max(p.temperature, 1e-6), dim=-1)
        index = _inverse_cdf(probs, self.generator)
        return index if ids is None else int(ids[index])


def sample_rows(
    samplers: list[SequenceSampler], logits: torch.Tensor, logprobs: list[int | None]
) -> list[tuple[int, RawLogprob | None]]:
    """One token for each row of a batch's logits (`samplers[i]` owns row i, on the model's device).

    Greedy rows that need nothing but their logits share one argmax where the logits are, so only
    their token ids cross to the CPU; every other row is copied to the CPU once, together, and goes
    through its own sampler (its own generator, grammar and penalties). Which way a row goes depends
    only on its own request, so a seeded request draws the same whatever else is in the batch."""
    greedy = [i for i, s in enumerate(samplers) if s.plain_greedy and logprobs[i] is None]
    rest = sorted(set(range(len(samplers))) - set(greedy))
    picks: dict[int, tuple[int, RawLogprob | None]] = {}
    if greedy:
        rows = logits if len(greedy) == len(samplers) else logits[greedy]
        for i, token in zip(greedy, torch.argmax(rows, dim=-1).tolist()):
            picks[i] = samplers[i].accept(token)
    if rest:
        rows = (logits if not greedy else logits[rest]).detach().to("cpu", torch.float32)
        for row, i in zip(rows, rest):
            picks[i] = samplers[i].sample(row, logprobs[i])
    return [picks[i] for i in range(len(samplers))]


def _nucleus(
    values: torch.Tensor, ids: torch.Tensor | None, top_p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest best-first prefix whose probability mass reaches `top_p` (a token is dropped
    when the mass before it already does). Candidates from top-k arrive sorted; for the whole
    vocabulary, the 64 best usually hold that mass, and only a flat distribution sorts every token."""
    probs = torch.softmax(values, dim=-1)
    if ids is not None:  # already best first (torch.topk sorts)
        order = torch.arange(values.shape[0])
        top = probs
    else:
        top, order = torch.topk(probs, min(64, values.shape[0]))
        if float(top.sum()) < top_p:  # a sharp distribution's nucleus is small; a flat one: sort all
            top, order = torch.sort(probs, descending=True)
    keep = (top.cumsum(dim=-1) - top) < top_p
    keep[0] = True  # the best token always stays
    order = order[keep]
    return values[order], (order if ids is None else ids[order])


def _inverse_cdf(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    """Index drawn with probability `probs[i]`, from one uniform number of `generator`. A token of
    probability 0 is never drawn: the first index whose cumulative mass exceeds the draw has mass."""
    cdf = probs.to(torch.float64).cumsum(dim=-1)
    u = torch.rand((), dtype=torch.float64, generator=generator) * cdf[-1]
    index = int(torch.searchsorted(cdf, u.reshape(1), right=True))
    if index >= probs.shape[0]:  # rounding at the very top: the last token that has any mass
        index = int(probs.nonzero()[-1])
    return index


def _logprob(raw: torch.Tensor, token: int, top_n: int) -> RawLogprob:
    """From the model's own distribution (before any sampling transform), as llama.cpp's backend does."""
    logz = torch.log_softmax(raw.to(torch.float64), dim=-1)
    top: tuple[tuple[int, float], ...] = ()
    if top_n > 0:
        values, ids = torch.topk(logz, min(top_n, logz.shape[0]))
        top = tuple((int(t), float(v)) for t, v in zip(ids.tolist(), values.tolist()))
    return RawLogprob(float(logz[token]), top)
