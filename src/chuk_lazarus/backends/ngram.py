"""Prompt-lookup drafting for speculative decoding: guess the next tokens from the sequence itself.

Text that copies (a rewrite, an extraction, code edited in place, a JSON echo of the question) repeats
runs of tokens the sequence already holds. When the last `n` tokens occurred before, the tokens that
followed them then are a good guess at what follows now. The guesses cost nothing to make; the step
verifies them in one batched decode, and only the ones the sampler would have picked itself are kept,
so the output is the same as without drafting.

A draft only ever comes from the sequence's own tokens (its prompt and its output so far): nothing is
shared between requests.

The drafter also keeps score: for each output token the lookup had a guess for, whether the guess was
right, drafted or not. That hit rate is what the step's draft plan (draft_plan.py) weighs a draft's
cost against, so a sequence whose text stops repeating stops drafting, and one that starts copying
(checked for free on every token) starts.
"""

from __future__ import annotations

# The hit rate before any evidence, and how much each new guess moves it (an exponential average:
# recent text counts most, since a reply can turn from free text to a copy and back).
HIT_RATE_PRIOR = 0.5
HIT_RATE_WEIGHT = 0.2


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
        self.hit_rate = HIT_RATE_PRIOR

    def extend(self, tokens: list[int], *, score: bool = True) -> None:
        """Add tokens the sequence now holds; `score`: they are output, so count the lookup's guesses
        at them in the hit rate (a prompt is indexed only)."""
        seq, n, follower = self.tokens, self.n, self.follower
        for token in tokens:
            if len(seq) >= n:
                tail = tuple(seq[-n:])
                if score:
                    at = follower.get(tail)  # what a draft made now would have guessed first
                    if at is not None:
                        self.hit_rate += HIT_RATE_WEIGHT * ((seq[at] == token) - self.hit_rate)
                follower[tail] = len(seq)
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
