"""Prompt-lookup drafting: a draft is what followed an earlier occurrence of the sequence's tail."""

from __future__ import annotations

from chuk_lazarus.backends.ngram import NgramDrafter


def drafter(tokens: list[int], n: int = 3) -> NgramDrafter:
    d = NgramDrafter(n)
    d.extend(tokens)
    return d


def test_the_tokens_after_the_earlier_occurrence_of_the_tail_are_the_draft() -> None:
    d = drafter([1, 2, 3, 4, 5, 6, 9, 9, 1, 2, 3])
    assert d.draft(3) == [4, 5, 6]
    assert d.draft(10) == [4, 5, 6, 9, 9, 1, 2, 3]  # up to the end of what the sequence holds


def test_the_tail_never_matches_itself() -> None:
    assert drafter([7, 8, 9]).draft(4) == []
    assert drafter([1, 2, 3, 4]).draft(4) == []


def test_the_latest_occurrence_wins() -> None:
    d = drafter([1, 2, 3, 10, 1, 2, 3, 20, 1, 2, 3])
    assert d.draft(1) == [20]


def test_tokens_added_later_are_found_and_extend_the_match() -> None:
    d = drafter([5, 6, 7, 8, 0, 5, 6])
    assert d.draft(2) == []  # a two-token tail is shorter than n
    d.extend([7])
    assert d.draft(2) == [8, 0]
    d.extend([8])
    assert d.draft(3) == [0, 5, 6]


def test_no_draft_without_room_or_a_match() -> None:
    d = drafter([1, 2, 3, 1, 2, 3])
    assert d.draft(0) == []
    assert drafter([1, 2, 3, 4, 5, 6]).draft(5) == []


def test_a_run_of_right_guesses_follows_its_own_source_not_the_latest_occurrence() -> None:
    # The prompt: a passage (1..7), then other text that also holds (3, 4, 5), followed by 99.
    d = NgramDrafter(3)
    d.extend([1, 2, 3, 4, 5, 6, 7, 8, 3, 4, 5, 99, 0], score=False)
    d.extend([1, 2, 3])  # the reply starts copying the passage
    assert d.draft(1) == [4]
    d.extend([4, 5])  # two right guesses
    # A fresh lookup of the tail (3, 4, 5) would find its latest occurrence and guess 99, 0.
    assert d.draft(2) == [6, 7]
    assert d.after_hit > 0.5  # the guesses held, and were counted so


def test_after_a_miss_the_tail_is_looked_up_again() -> None:
    d = NgramDrafter(3)
    d.extend([1, 2, 3, 4, 5, 6, 7, 8, 3, 4, 5, 99, 0], score=False)
    d.extend([1, 2, 3, 4])
    d.extend([9])  # the copy turns: the guess (5) missed
    assert d.draft(2) == []  # (3, 4, 9) never occurred
    d.extend([3, 4, 5])
    assert d.draft(2) == [99, 0]  # a fresh lookup: the latest occurrence of (3, 4, 5)
