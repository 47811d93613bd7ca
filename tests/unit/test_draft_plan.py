"""The draft plan: a drafted token goes in only when its expected yield beats the time it adds."""

from __future__ import annotations

import pytest

from chuk_lazarus.backends.draft_plan import MAX_HIT_RATE, Offer, StepCost, plan_drafts
from chuk_lazarus.backends.ngram import HIT_RATE_PRIOR, NgramDrafter

# Shaped like the 2-core CPU measurement in draft_plan.py: a second token costs most of a decode.
CPU = StepCost(((1, 0.0128), (2, 0.0223), (9, 0.0415), (17, 0.0619)))
FLAT = StepCost(((1, 0.010), (64, 0.010)))  # extra rows free: any draft with a chance pays


def test_step_cost_interpolates_and_extends_along_the_last_slope() -> None:
    assert CPU.seconds(1) == pytest.approx(0.0128)
    assert CPU.seconds(0) == pytest.approx(0.0128)
    assert CPU.seconds(5) == pytest.approx(0.0223 + (0.0415 - 0.0223) * 3 / 7)
    assert CPU.seconds(25) == pytest.approx(0.0619 + (0.0619 - 0.0415))


def test_measured_cost_is_sorted_and_never_cheaper_for_more_tokens() -> None:
    cost = StepCost.measured([(4, 0.020), (1, 0.010), (2, 0.025), (8, 0.030)])
    assert cost.points == ((1, 0.010), (2, 0.025), (4, 0.025), (8, 0.030))
    with pytest.raises(ValueError):
        StepCost.measured([(1, 0.01)])


def test_free_text_alone_is_not_drafted_where_a_second_row_costs_most_of_a_decode() -> None:
    # One sequence, hit rate 0.45 (fresh prose): no draft length pays for itself.
    assert plan_drafts(1, 1, [Offer(0.45, 8)], CPU, room=500) == [0]


def test_a_copy_is_drafted_and_its_length_is_where_tokens_per_second_peak() -> None:
    [k] = plan_drafts(1, 1, [Offer(0.9, 16)], CPU, room=500)
    assert 4 <= k <= 16
    # The chosen length beats every other under the model it was chosen by.
    def rate(n: int) -> float:
        return (1 + sum(0.9**j for j in range(1, n + 1))) / CPU.seconds(1 + n)
    assert all(rate(k) >= rate(n) for n in range(17))


def test_the_plan_prefers_the_sequence_whose_drafts_hold() -> None:
    counts = plan_drafts(4, 4, [Offer(0.2, 8), Offer(0.95, 8)], CPU, room=500)
    assert counts[1] > counts[0]


def test_room_and_availability_bound_the_plan() -> None:
    assert plan_drafts(1, 1, [Offer(0.9, 3)], FLAT, room=500) == [3]
    assert plan_drafts(2, 2, [Offer(0.9, 8), Offer(0.9, 8)], FLAT, room=5) == [3, 2]
    assert plan_drafts(1, 1, [Offer(0.9, 8)], FLAT, room=0) == [0]
    assert plan_drafts(1, 1, [Offer(0.0, 8)], FLAT, room=500) == [0]  # no chance: nothing to gain


def test_a_perfect_record_is_still_not_a_sure_thing() -> None:
    # Capped: with a rate of 1 every extra row would look like a whole free token.
    wide = StepCost(((1, 0.010), (2, 0.010), (64, 0.010 + 62 * 0.0099)))
    [k] = plan_drafts(1, 1, [Offer(1.0, 64)], wide, room=500)
    assert MAX_HIT_RATE < 1 and k < 64


def test_the_drafter_scores_its_guesses_on_output_only() -> None:
    drafter = NgramDrafter(2)
    drafter.extend([1, 2, 3, 1, 2, 4], score=False)  # a prompt: indexed, not scored
    assert drafter.hit_rate == HIT_RATE_PRIOR
    drafter.extend([1, 2])  # (2, 4) and (4, 1) never occurred before: no guess, no score
    assert drafter.hit_rate == HIT_RATE_PRIOR
    assert drafter.draft(3) == [4, 1, 2]  # (1, 2) last continued with 4, 1, 2
    drafter.extend([4])  # guessed 4: a hit
    hit = drafter.hit_rate
    assert hit > HIT_RATE_PRIOR
    drafter.extend([1, 2])  # (2, 4) -> 1 and (4, 1) -> 2: two more hits
    assert drafter.hit_rate > hit
    high = drafter.hit_rate
    drafter.extend([9])  # (1, 2) -> 4 guessed, 9 came: a miss
    assert drafter.hit_rate < high
    missed = drafter.hit_rate
    drafter.extend([1, 2, 9], score=False)
    assert drafter.hit_rate == missed
