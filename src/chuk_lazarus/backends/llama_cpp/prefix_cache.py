"""Where a new prompt's prefix already is in KV memory, and which slot the prompt should go to.

Every slot (a KV-memory sequence id) remembers the tokens whose K/V it holds (`cached`). A new prompt
can reuse a prefix held by *any* slot: its own free slot's memory (the previous turn of a chat), or
another slot's, busy or not, which `llama_memory_seq_cp` shares into the new sequence without copying
(the context uses one unified KV pool, so a cell simply gains a second sequence id). Positions start at
0 in every sequence and a sequence only ever attends to cells tagged with its own id, so a request
never sees a token of another request beyond the prefix they both sent.

When a slot is *still prefilling* a prompt that shares a long prefix with a new one (requests arriving
together with the same system prompt), the new one waits until that prefix is in memory instead of
computing it a second time in parallel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# A waiting prompt is deferred only if a prefilling slot is about to hold this many more of its tokens
# than memory holds now; smaller gains are cheaper to recompute than to wait for.
DEFER_MIN_TOKENS = 32


class SlotView(Protocol):
    seq_id: int
    cached: list[int]  # tokens whose K/V are in memory for seq_id, positions 0..len-1
    pending: list[int]  # prompt tokens still to prefill (when busy)
    last_used: int  # step at which the slot was last released (least recently used goes first)

    @property
    def busy(self) -> bool: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0 or a[0] != b[0]:
        return 0
    if a[:n] == b[:n]:
        return n
    # Bisect on slice equality: C-speed comparisons, O(n log n) worst case, no Python loop per token.
    lo, hi = 1, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Placement:
    """Run the prompt in `slot`, whose memory will hold the first `reuse` prompt tokens: its own,
    or shared from `source` when that is not None."""

    slot: SlotView
    reuse: int
    source: SlotView | None = None


@dataclass(frozen=True)
class Defer:
    """Wait: `leader` is prefilling a prefix of this prompt that memory does not hold yet."""

    leader: SlotView


def place(prompt: Sequence[int], slots: Sequence[SlotView]) -> Placement | Defer | None:
    """Where to run `prompt` now, or `Defer`, or None when no slot is free."""
    free = [s for s in slots if not s.busy]
    if not free:
        return None
    # Keep at least one prompt token to decode: its logits give the first sampled token.
    limit = max(len(prompt) - 1, 0)
    held = {s.seq_id: min(common_prefix(s.cached, prompt), limit) for s in slots}
    best = max(slots, key=lambda s: held[s.seq_id])
    for s in slots:
        if s.busy and s.pending:
            shared = held[s.seq_id]
            if shared == len(s.cached):  # the rest of its prompt may share more
                shared = min(shared + common_prefix(s.pending, prompt[shared:]), limit)
            if shared - held[best.seq_id] >= DEFER_MIN_TOKENS:
                return Defer(s)
    # The free slot with the most of this prompt; among equals the least recently used, so that
    # memories more likely to be useful (recent conversations) survive longer.
    own = max(free, key=lambda s: (held[s.seq_id], -s.last_used))
    if held[best.seq_id] > held[own.seq_id]:
        target = own if held[own.seq_id] > 0 else min(free, key=lambda s: s.last_used)
        return Placement(target, held[best.seq_id], best)
    return Placement(own, held[own.seq_id])
