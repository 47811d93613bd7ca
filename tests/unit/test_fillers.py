"""Fillers: a throwaway token in the holes between busy sequences, only where it saves a pass.

Priced with a cost shaped like this machine's (a pass over 1 token ~12 ms, 16 tokens ~56 ms), the
plan must reproduce the measured cases in fillers.py: a hole in 16 is filled, seven holes among 8 are
filled, and four sequences far apart are left alone."""

from __future__ import annotations

from chuk_lazarus.backends.draft_plan import StepCost
from chuk_lazarus.backends.llama_cpp.fillers import plan_fillers
from chuk_lazarus.backends.llama_cpp.ubatch import micro_batches

CPU = StepCost(((1, 0.0119), (4, 0.0243), (8, 0.0334), (12, 0.0445), (16, 0.0559)))
ANY = lambda seq_id: True  # noqa: E731


def ones(ids: list[int]) -> list[tuple[int, int]]:
    return [(s, 1) for s in ids]


def test_one_hole_in_sixteen_is_filled() -> None:
    busy = [s for s in range(16) if s != 7]
    assert micro_batches(ones(busy), 512) == [7, 8]
    assert plan_fillers(ones(busy), ANY, CPU, 512, room=100) == [7]


def test_every_other_sequence_busy_fills_all_seven_holes() -> None:
    assert plan_fillers(ones(list(range(0, 16, 2))), ANY, CPU, 512, room=100) == [1, 3, 5, 7, 9, 11, 13]


def test_four_sequences_far_apart_are_cheaper_as_four_passes() -> None:
    assert plan_fillers(ones([0, 5, 10, 15]), ANY, CPU, 512, room=100) == []


def test_a_hole_is_filled_only_when_every_idle_sequence_in_it_has_room() -> None:
    busy = [s for s in range(16) if s not in (6, 7)]
    assert plan_fillers(ones(busy), ANY, CPU, 512, room=100) == [6, 7]
    assert plan_fillers(ones(busy), lambda s: s != 7, CPU, 512, room=100) == []
    assert plan_fillers(ones(busy), ANY, CPU, 512, room=1) == []  # no batch rows for both


def test_a_prefill_chunk_in_the_middle_joins_the_run_of_single_tokens() -> None:
    # Ids 0-6 and 9-15 decode one token each, 8 prefills 20: filling 7 makes the first pass take one
    # token of every sequence, 8 included, and the second the rest of the chunk (2 passes, not 3).
    layout = [*ones(list(range(7))), (8, 20), *ones(list(range(9, 16)))]
    assert len(micro_batches(layout, 512)) == 3
    fill = plan_fillers(layout, ANY, CPU, 512, room=100)
    assert fill == [7]
    assert len(micro_batches(sorted([*layout, (7, 1)]), 512)) == 2


def test_nothing_to_join() -> None:
    assert plan_fillers(ones(list(range(8))), ANY, CPU, 512, room=100) == []
    assert plan_fillers(ones([3]), ANY, CPU, 512, room=100) == []
