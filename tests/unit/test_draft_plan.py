"""The draft plan: a drafted token goes in only when its expected yield beats the time it adds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from chuk_lazarus.backends.draft_plan import MAX_HIT_RATE, Offer, StepCost, plan_drafts
from chuk_lazarus.backends.llama_cpp.ubatch import micro_batches
from chuk_lazarus.backends.ngram import HIT_RATE_PRIOR, NgramDrafter

# Shaped like the 2-core CPU measurement in draft_plan.py: a second token costs most of a decode.
CPU = StepCost(((1, 0.0128), (2, 0.0223), (9, 0.0415), (17, 0.0619)))
FLAT = StepCost(((1, 0.010), (64, 0.010)))  # extra rows free: any draft with a chance pays


def tokens(cost: StepCost, base: int) -> Callable[[Sequence[int]], float]:
    """A step priced by its token count alone: `base` tokens plus the drafts."""
    return lambda counts: cost.seconds(base + sum(counts))


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


def test_a_draft_must_pay_by_a_margin() -> None:
    # Expected 1.05x the tokens for the same time: within what the cost model gets wrong, so no draft.
    assert plan_drafts(20, [Offer(0.5, 0.1, 1)], tokens(FLAT, 20), room=10) == [0]
    assert plan_drafts(20, [Offer(0.9, 0.9, 8)], tokens(FLAT, 20), room=10) == [8]


def test_free_text_alone_is_not_drafted_where_a_second_row_costs_most_of_a_decode() -> None:
    # One sequence, hit rate 0.45 (fresh prose): no draft length pays for itself.
    assert plan_drafts(1, [Offer(0.45, 0.45, 8)], tokens(CPU, 1), room=500) == [0]


def test_a_copy_is_drafted_and_its_length_is_where_tokens_per_second_peak() -> None:
    [k] = plan_drafts(1, [Offer(0.9, 0.9, 16)], tokens(CPU, 1), room=500)
    assert 4 <= k <= 16
    # The chosen length beats every other under the model it was chosen by.
    def rate(n: int) -> float:
        return (1 + sum(0.9**j for j in range(1, n + 1))) / CPU.seconds(1 + n)
    assert all(rate(k) >= rate(n) for n in range(17))


def test_the_plan_prefers_the_sequence_whose_drafts_hold() -> None:
    counts = plan_drafts(4, [Offer(0.2, 0.2, 8), Offer(0.95, 0.95, 8)], tokens(CPU, 4), room=500)
    assert counts[1] > counts[0]


def test_room_and_availability_bound_the_plan() -> None:
    assert plan_drafts(1, [Offer(0.9, 0.9, 3)], tokens(FLAT, 1), room=500) == [3]
    assert plan_drafts(2, [Offer(0.9, 0.9, 8), Offer(0.9, 0.9, 8)], tokens(FLAT, 2), room=5) == [3, 2]
    assert plan_drafts(1, [Offer(0.9, 0.9, 8)], tokens(FLAT, 1), room=0) == [0]
    assert plan_drafts(1, [Offer(0.0, 0.0, 8)], tokens(FLAT, 1), room=500) == [0]  # no chance: nothing to gain


def test_a_perfect_record_is_still_not_a_sure_thing() -> None:
    # Capped: with a rate of 1 every extra row would look like a whole free token.
    wide = StepCost(((1, 0.010), (2, 0.010), (64, 0.010 + 62 * 0.0099)))
    [k] = plan_drafts(1, [Offer(1.0, 1.0, 64)], tokens(wide, 1), room=500)
    assert MAX_HIT_RATE < 1 and k < 64


def test_a_draft_that_starts_after_a_miss_is_planned_by_both_rates() -> None:
    # Just after a miss the first token is a long shot, but a copy that starts holds.
    assert plan_drafts(1, [Offer(0.1, 0.95, 8)], tokens(CPU, 1), room=500) == [0]
    assert plan_drafts(1, [Offer(0.9, 0.95, 8)], tokens(CPU, 1), room=500)[0] >= 4
    assert Offer(0.5, 0.9, 3).chance(3) == pytest.approx(0.5 * 0.9**2)


def test_the_drafter_scores_its_guesses_on_output_only() -> None:
    drafter = NgramDrafter(2)
    drafter.extend([1, 2, 3, 1, 2, 4], score=False)  # a prompt: indexed, not scored
    assert (drafter.after_hit, drafter.after_other) == (HIT_RATE_PRIOR, HIT_RATE_PRIOR)
    drafter.extend([1, 2])  # (2, 4) and (4, 1) never occurred before: no guess, no score
    assert (drafter.after_hit, drafter.after_other) == (HIT_RATE_PRIOR, HIT_RATE_PRIOR)
    assert drafter.draft(3) == [4, 1, 2]  # (1, 2) last continued with 4, 1, 2
    drafter.extend([4])  # guessed 4 after no hit: a hit, scored in `after_other`
    assert drafter.after_other > HIT_RATE_PRIOR and drafter.after_hit == HIT_RATE_PRIOR
    assert drafter.first_hit_rate == drafter.after_hit  # the last token was a hit
    drafter.extend([1, 2])  # (2, 4) -> 1 and (4, 1) -> 2: hits after hits
    high = drafter.after_hit
    assert high > HIT_RATE_PRIOR
    drafter.extend([9])  # (1, 2) -> 4 guessed, 9 came: a miss after a hit
    assert drafter.after_hit < high and drafter.first_hit_rate == drafter.after_other
    scored = (drafter.after_hit, drafter.after_other)
    drafter.extend([1, 2, 9], score=False)
    assert (drafter.after_hit, drafter.after_other) == scored


def test_micro_batches_follow_llama_cpps_equal_split() -> None:
    assert micro_batches([(s, 1) for s in range(16)], 512) == [16]
    assert micro_batches([(s, 5 if s == 3 else 1) for s in range(16)], 512) == [16, 4]
    assert micro_batches([(s, 1) for s in (0, 2, 4, 6)], 512) == [1, 1, 1, 1]  # ids not consecutive
    assert micro_batches([(0, 1), (1, 1), (3, 1), (4, 1)], 512) == [2, 2]
    assert micro_batches([(0, 1), (1, 1), (5, 200)], 512) == [2, 200]  # a prefill chunk beside decodes
    assert micro_batches([(0, 300), (1, 300)], 512) == [512, 88]  # bounded by n_ubatch
    assert micro_batches([], 512) == []


def test_a_draft_beside_many_single_tokens_is_priced_as_a_pass_of_its_own() -> None:
    # Sixteen sequences decode; one offers a good draft. Counted by tokens (here: free) it pays; as the
    # second pass llama.cpp really makes, a whole pass for a few tokens, it does not.
    def split(counts: Sequence[int]) -> float:
        layout = [(s, 1 + (counts[0] if s == 3 else 0)) for s in range(16)]
        return sum(FLAT.seconds(n) for n in micro_batches(layout, 512))

    offer = [Offer(0.9, 0.9, 8)]
    assert plan_drafts(16, offer, tokens(FLAT, 16), room=400) == [8]
    assert plan_drafts(16, offer, split, room=400) == [0]
