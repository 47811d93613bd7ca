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
