"""Which drafted tokens a step verifies: only those whose expected yield beats the time they add.

A drafted token takes a batch row whether it holds or not, and what a row costs depends on the batch.
On a CPU, going from one token to two costs most of a whole decode (matrix-vector kernels give way to
matrix-matrix ones); each token after that adds little. So a fixed draft length either wastes steps
on text that does not repeat (a fresh story: 0.91x of plain decoding, measured) or leaves speed on the
table on text that does.

The plan maximizes the step's expected tokens per second: every sampling sequence's one sure token,
plus each drafted token's chance of holding, over the expected time of that decode. The backend says
what that time is: llama.cpp splits a batch whose sequences carry unequal runs into several passes
over the weights (llama_cpp/ubatch.py), so one sequence's draft beside fifteen single tokens costs a
pass of its own, which a plain count of batch tokens would miss.

A sequence's chances come from its drafter's record (how often the n-gram lookup predicted the token
that came next, drafted or not): its first drafted token holds with chance p, and each later one only
if every one before it did, each with chance q (the rate just after a right guess), so p * q**(j-1).
Since that falls with j, taking candidates best first gives each sequence a prefix of its draft, and
the best plan of m tokens is the m best candidates: the plan tries every m.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StepCost:
    """Seconds one decode takes by how many tokens its batch holds: `points`, (tokens, seconds) with
    tokens increasing, measured on this model and machine (llama_cpp/calibrate.py)."""

    points: tuple[tuple[int, float], ...]

    def seconds(self, tokens: int) -> float:
        """Linear between the measured sizes; past the last, along the last slope."""
        pts = self.points
        if tokens <= pts[0][0]:
            return pts[0][1]
        for (n0, t0), (n1, t1) in zip(pts, pts[1:]):
            if tokens <= n1:
                return t0 + (t1 - t0) * (tokens - n0) / (n1 - n0)
        (n0, t0), (n1, t1) = pts[-2], pts[-1]
        return t1 + (t1 - t0) * (tokens - n1) / (n1 - n0)

    @classmethod
    def measured(cls, samples: Sequence[tuple[int, float]]) -> StepCost:
        """From (tokens, seconds) samples: sorted, and never cheaper for more tokens (timing noise)."""
        points: list[tuple[int, float]] = []
        for tokens, seconds in sorted(samples):
            if points and tokens == points[-1][0]:
                continue
            points.append((tokens, max(seconds, points[-1][1] if points else 0.0)))
        if len(points) < 2:
            raise ValueError("a step cost needs at least two batch sizes")
        return cls(tuple(points))


# No drafted token is ever a sure thing: a rate of 1 would make every draft look free to lengthen.
MAX_HIT_RATE = 0.98


# A plan with drafts must beat the plan without by this much. The price of a pass comes from timing
# one sequence (llama_cpp/calibrate.py); a pass over several sequences costs more than that (16
# sequences x 1 token: 60 ms against 47 ms for one sequence's 16 tokens, measured), so drafts the
# model calls a small gain are often a loss, and they lengthen every other stream's step.
MIN_GAIN = 0.1


@dataclass(frozen=True)
class Offer:
    """One sequence's draft on offer: up to `available` tokens; the first holds with chance `first`,
    each later one (given the ones before it held) with chance `then`."""

    first: float
    then: float
    available: int

    def chance(self, j: int) -> float:
        """That the j-th drafted token (from 1) holds."""
        return min(self.first, MAX_HIT_RATE) * min(self.then, MAX_HIT_RATE) ** (j - 1)


def plan_drafts(
    sure: int, offers: Sequence[Offer], seconds: Callable[[Sequence[int]], float], room: int
) -> list[int]:
    """How many drafted tokens each offer puts in the batch (0: none).

    `sure`: tokens the step yields for certain (one per sampling sequence); `seconds(counts)`: what the
    step's decode is expected to take with `counts[i]` drafted tokens for offer i (the backend's
    model of its batch: decoding tokens, forced runs and prefill chunks beside the drafts);
    `room`: batch rows left for drafts."""
    candidates = sorted(  # best chance first; among equals, the earlier offer
        (
            (offer.chance(j), i)
            for i, offer in enumerate(offers)
            for j in range(1, offer.available + 1)
        ),
        key=lambda c: (-c[0], c[1]),
    )[: max(room, 0)]
    counts = [0] * len(offers)
    best_m, best_rate = 0, sure / seconds(counts) * (1 + MIN_GAIN)
    expected = float(sure)
    for m, (chance, i) in enumerate(candidates, start=1):
        expected += chance
        counts[i] += 1
        rate = expected / seconds(counts)
        if rate > best_rate:
            best_m, best_rate = m, rate
    counts = [0] * len(offers)
    for _, i in candidates[:best_m]:
        counts[i] += 1
    return counts
