"""Filling the holes between busy sequences with a throwaway token, when that makes a step cheaper.

llama.cpp makes one pass over the weights per run of consecutive sequence ids (ubatch.py). Slots go
idle and busy in any order, so the busy ids of a step often have holes: with 15 of 16 busy and the
idle one in the middle, the step is two passes where it could be one. A hole filled with one token
of the idle sequence's own (written to its memory past what it holds, and removed after the decode,
with no logits asked for) joins the two runs. Measured on 2 CPU cores, 200 tokens of context, one
token each: ids 0-15 55.9 ms, the same with 7 idle 65.2 ms; ids 0, 2, ..., 14 100.3 ms, and 0-14
(the 7 holes filled) 53.9 ms; but 0, 5, 10, 15 is 49.0 ms, cheaper than filling its 12 holes (55.9).

So each step prices its layout with the decode cost timed at start (calibrate.py) and fills a hole
only when the priced time falls. Since every sequence has its own KV stream, a filler changes no
other sequence's numbers: outputs are the same with or without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..draft_plan import StepCost
from .ubatch import micro_batches

# Fill only for a clear gain: the price comes from timing one sequence's runs, a proxy for a pass over
# many sequences (measured to within ~10%).
MIN_SAVING = 0.05


def plan_fillers(
    layout: Sequence[tuple[int, int]],
    fillable: Callable[[int], bool],
    cost: StepCost,
    n_ubatch: int,
    room: int,
) -> list[int]:
    """The idle sequence ids to give one throwaway token this step (ascending).

    `layout`: the step's (sequence id, tokens) in ascending id order; `fillable(seq_id)`: whether an
    idle sequence has room for one more token; `room`: batch rows left. Holes are filled whole (a
    partly filled hole joins nothing)."""
    if len(layout) < 2:
        return []
    gaps = []
    for (a, _), (b, _) in zip(layout, layout[1:]):
        hole = list(range(a + 1, b))
        if hole and len(hole) <= room and all(fillable(s) for s in hole):
            gaps.append(hole)
    if not gaps:
        return []

    def seconds(fill: list[int]) -> float:
        merged = sorted([*layout, *((s, 1) for s in fill)])
        return sum(cost.seconds(n) for n in micro_batches(merged, n_ubatch))

    # Best hole first while the price falls at all (one hole among many saves little, several
    # together a lot), then the plan as a whole must save `MIN_SAVING`.
    chosen: list[int] = []
    unfilled = best = seconds(chosen)
    while gaps:
        priced = [(seconds(chosen + hole), k) for k, hole in enumerate(gaps) if len(chosen) + len(hole) <= room]
        if not priced:
            break
        time, k = min(priced)
        if time >= best:
            break
        chosen += gaps.pop(k)
        best = time
    return sorted(chosen) if best <= unfilled * (1 - MIN_SAVING) else []
