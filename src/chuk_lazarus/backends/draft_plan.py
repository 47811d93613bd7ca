"""Which drafted tokens a step verifies: only those whose expected yield beats the time they add.

A drafted token takes a batch row whether it holds or not, and what a row costs depends on the batch.
On a CPU, going from one token to two costs most of a whole decode (matrix-vector kernels give way to
matrix-matrix ones); each token after that adds little. So a fixed draft length either wastes steps
on text that does not repeat (a fresh story: 0.91x of plain decoding, measured) or leaves speed on the
table on text that does.

The plan maximizes the step's expected tokens per second: every sampling sequence's one sure token,
plus each drafted token's chance of holding, over the measured time of a decode that size. A
sequence's chance is its drafter's hit rate q (how often the n-gram lookup predicted the token that
came next, drafted or not); its j-th drafted token holds only if every one before it did, so q**j.
Since q**j falls with j, taking candidates best first gives each sequence a prefix of its draft, and
the best plan of m tokens is the m best candidates: the plan tries every m.
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class Offer:
    """One sequence's draft on offer: up to `available` tokens, each holding with chance `hit_rate`."""

    hit_rate: float
    available: int


# No drafted token is ever a sure thing: a rate of 1 would make every draft look free to lengthen.
MAX_HIT_RATE = 0.98


def plan_drafts(sure: int, base_tokens: int, offers: Sequence[Offer], cost: StepCost, room: int) -> list[int]:
    """How many drafted tokens each offer puts in the batch (0: none).

    `sure`: tokens the step yields for certain (one per sampling sequence); `base_tokens`: what the
    batch holds without drafts (decoding tokens, forced runs, prefill chunks); `room`: batch rows left."""
    candidates = sorted(  # best chance first; among equals, the earlier offer
        (
            (min(offer.hit_rate, MAX_HIT_RATE) ** j, i)
            for i, offer in enumerate(offers)
            for j in range(1, offer.available + 1)
        ),
        key=lambda c: (-c[0], c[1]),
    )
    best_m, best_rate = 0, sure / cost.seconds(base_tokens)
    expected = float(sure)
    for m, (chance, _) in enumerate(candidates[: max(room, 0)], start=1):
        expected += chance
        rate = expected / cost.seconds(base_tokens + m)
        if rate > best_rate:
            best_m, best_rate = m, rate
    counts = [0] * len(offers)
    for _, i in candidates[:best_m]:
        counts[i] += 1
    return counts
