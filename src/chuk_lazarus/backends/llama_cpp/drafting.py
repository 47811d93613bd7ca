"""One step's draft plan on llama.cpp: each decoding slot's proposal priced in the passes llama.cpp
will really make (ubatch.py) with the decode cost timed at start (calibrate.py), then planned by the
backend-neutral rule in backends/draft_plan.py. Drafts use only rows the step's prefill chunks leave
free, so they never delay a prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..draft_plan import Offer, StepCost, plan_drafts
from ..ngram import NgramDrafter
from .ubatch import micro_batches


class DraftingSlot(Protocol):
    """What the plan reads of a slot (step.py's `Slot`)."""

    seq_id: int
    forced: list[int]
    pending: list[int]
    drafter: NgramDrafter | None


def plan_step_drafts(
    decoding: Sequence[DraftingSlot],
    prefilling: Sequence[DraftingSlot],
    proposals: dict[DraftingSlot, list[int]],
    cost: StepCost,
    capacity: int,
) -> dict[DraftingSlot, list[int]]:
    """The part of each proposal (a prefix, maybe empty) that goes in this step's batch.

    `decoding`: the slots sampling this step, in batch order; `prefilling`: the slots whose prompt
    chunks follow them; `proposals`: what each drafting slot's lookup offers (every key has a drafter)."""
    chunks = [(s.seq_id, len(s.pending)) for s in prefilling]
    room = capacity - sum(1 + len(s.forced) for s in decoding) - sum(n for _, n in chunks)
    if room <= 0:
        return {}
    drafting = list(proposals)
    where = {s: i for i, s in enumerate(drafting)}

    def seconds(counts: Sequence[int]) -> float:
        layout = [(s.seq_id, 1 + len(s.forced) + (counts[where[s]] if s in where else 0)) for s in decoding]
        return sum(cost.seconds(n) for n in micro_batches(layout + chunks, capacity))

    offers = []
    for s in drafting:
        assert s.drafter is not None, "only a slot that drafts makes a proposal"
        offers.append(Offer(s.drafter.first_hit_rate, s.drafter.after_hit, len(proposals[s])))
    counts = plan_drafts(len(decoding), offers, seconds, room)
    return {s: proposals[s][:k] for s, k in zip(drafting, counts) if k}
