"""Where a prompt goes: prefix reuse from its own slot, sharing from another slot, deferring."""

from __future__ import annotations

from dataclasses import dataclass, field

from chuk_lazarus.backends.llama_cpp.prefix_cache import (
    DEFER_MIN_TOKENS,
    Defer,
    Placement,
    common_prefix,
    place,
)


@dataclass(eq=False)
class FakeSlot:
    seq_id: int
    cached: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    last_used: int = 0
    is_busy: bool = False

    @property
    def busy(self) -> bool:
        return self.is_busy


def test_common_prefix() -> None:
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2, 3], [1, 2, 3]) == 3
    assert common_prefix([1, 2, 3], [1, 2]) == 2
    assert common_prefix([2], [1]) == 0
    for k in range(0, 300, 7):
        a = list(range(300))
        b = a[:k] + [-1] + a[k + 1 :]
        assert common_prefix(a, b) == k


def test_no_free_slot_waits() -> None:
    assert place([1, 2, 3], [FakeSlot(0, is_busy=True)]) is None


def test_own_slot_prefix_is_reused_but_one_token_is_left_to_decode() -> None:
    slot = FakeSlot(0, cached=[1, 2, 3, 4])
    p = place([1, 2, 3, 4], [slot, FakeSlot(1)])
    assert p == Placement(slot, 3)


def test_prefix_in_a_busy_slot_is_shared_into_the_least_recently_used_free_slot() -> None:
    busy = FakeSlot(0, cached=list(range(100)), is_busy=True)
    old, recent = FakeSlot(1, cached=[7], last_used=1), FakeSlot(2, cached=[8], last_used=5)
    p = place(list(range(50)) + [999], [busy, old, recent])
    assert isinstance(p, Placement)
    assert p.source is busy and p.slot is old and p.reuse == 50


def test_prompt_waits_for_a_leader_prefilling_a_long_shared_prefix() -> None:
    shared = list(range(200))
    leader = FakeSlot(0, cached=shared[:10], pending=shared[10:] + [1, 2], is_busy=True)
    p = place(shared + [3, 4], [leader, FakeSlot(1)])
    assert p == Defer(leader)
    # Once the leader holds the shared part, the follower shares it.
    leader.cached, leader.pending = shared + [1], [2]
    p = place(shared + [3, 4], [leader, FakeSlot(1)])
    assert isinstance(p, Placement) and p.source is leader and p.reuse == 200


def test_short_shared_prefixes_do_not_defer() -> None:
    leader = FakeSlot(0, cached=[], pending=list(range(DEFER_MIN_TOKENS - 1)) + [5], is_busy=True)
    p = place(list(range(DEFER_MIN_TOKENS - 1)) + [6], [leader, FakeSlot(1)])
    assert isinstance(p, Placement) and p.source is None
