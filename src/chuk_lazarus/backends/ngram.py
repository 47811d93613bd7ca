"""Prompt-lookup drafting for speculative decoding: guess the next tokens from the sequence itself.

Text that copies (a rewrite, an extraction, code edited in place, a JSON echo of the question) repeats
runs of tokens the sequence already holds. When the last `n` tokens occurred before, the tokens that
followed them then are a good guess at what follows now. The guesses cost nothing to make; the step
verifies them in one batched decode, and only the ones the sampler would have picked itself are kept,
so the output is the same as without drafting.

A draft only ever comes from the sequence's own tokens (its prompt and its output so far): nothing is
shared between requests.
"""

from __future__ import annotations


class NgramDrafter:
    """An index of every `n`-gram of one sequence to where it last continued; O(1) per token."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.tokens: list[int] = []
        # Only tokens the sequence really holds are added (never a draft not yet verified).
        # n-gram -> the position of the token that followed its latest occurrence. The last n-gram of
        # the sequence has no follower yet, so it is indexed one token late: a lookup of the current
        # tail finds an *earlier* occurrence, never itself.
        self.follower: dict[tuple[int, ...], int] = {}

    def extend(self, tokens: list[int]) -> None:
        seq, n, follower = self.tokens, self.n, self.follower
        for token in tokens:
            if len(seq) >= n:
                follower[tuple(seq[-n:])] = len(seq)
            seq.append(token)

    def draft(self, limit: int) -> list[int]:
        """Up to `limit` tokens that followed the last occurrence of the sequence's current tail."""
        seq, n = self.tokens, self.n
        if limit <= 0 or len(seq) <= n:
            return []
        at = self.follower.get(tuple(seq[-n:]))
        if at is None:
            return []
        return seq[at : at + limit]
