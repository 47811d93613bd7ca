"""Prompt-lookup drafting for speculative decoding: guess the next tokens from the sequence itself.

Text that copies (a rewrite, an extraction, code edited in place, a JSON echo of the question) repeats
runs of tokens the sequence already holds. When the last `n` tokens occurred before, the tokens that
followed them then are a good guess at what follows now. The guesses cost nothing to make; the step
verifies them in one batched decode, and only the ones the sampler would have picked itself are kept,
so the output is the same as without drafting.

A draft only ever comes from the sequence's own tokens (its prompt and its output so far): nothing is
shared between requests.

A guess that held is followed, the next time, by the token after it in the same earlier occurrence
(a draft's own continuation), not by a fresh lookup: a copy follows one source, while the latest
occurrence of a short n-gram is often elsewhere (the reply's own previous sentence in a list of
similar facts). Only after a miss is the tail looked up again.

The drafter also keeps score: for each output token the lookup had a guess for, whether the guess was
right, drafted or not. Guesses come in runs (a copy holds for a sentence, then the text turns), so it
keeps two rates: how often a guess is right just after a right one, and otherwise. The first says how
far a draft will hold once started, the second whether to start one. They are what the step's draft
plan (draft_plan.py) weighs a draft's cost against, so a sequence whose text stops repeating stops
drafting, and one that starts copying (checked for free on every token) starts.
"""

from __future__ import annotations

# A hit rate before any evidence, and how much each new guess moves it (an exponential average:
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
        self.after_hit = HIT_RATE_PRIOR  # P(the guess is right | the last token was guessed right)
        self.after_other = HIT_RATE_PRIOR  # P(the guess is right | it was not, or had no guess)
        self.last_hit = False
        # Where the guess for the next token is while a run of right guesses lasts: the token after the
        # last right one in the same earlier occurrence. None: look the tail up.
        self.run: int | None = None

    @property
    def first_hit_rate(self) -> float:
        """The chance a draft made now holds for its first token."""
        return self.after_hit if self.last_hit else self.after_other

    def extend(self, tokens: list[int], *, score: bool = True) -> None:
        """Add tokens the sequence now holds; `score`: they are output, so count the lookup's guesses
        at them in the hit rate (a prompt is indexed only)."""
        seq, n, follower = self.tokens, self.n, self.follower
        for token in tokens:
            run = None  # set when this token was guessed right: its source's next token
            if len(seq) >= n:
                tail = tuple(seq[-n:])
                if score:
                    at = self._guess_at(tail)  # what a draft made now would have guessed first
                    hit = at is not None and seq[at] == token
                    if at is not None:
                        if self.last_hit:
                            self.after_hit += HIT_RATE_WEIGHT * (hit - self.after_hit)
                        else:
                            self.after_other += HIT_RATE_WEIGHT * (hit - self.after_other)
                        if hit:
                            run = at + 1
                    self.last_hit = hit
                follower[tail] = len(seq)
            self.run = run
            seq.append(token)

    def _guess_at(self, tail: tuple[int, ...]) -> int | None:
        """The position of the guess for the next token: the run's continuation, else the tail's."""
        return self.run if self.run is not None else self.follower.get(tail)

    def draft(self, limit: int) -> list[int]:
        """Up to `limit` tokens: those after the last right guess's source while a run of right guesses
        lasts, else those that followed the last occurrence of the sequence's current tail."""
        seq, n = self.tokens, self.n
        if limit <= 0 or len(seq) <= n:
            return []
        at = self._guess_at(tuple(seq[-n:]))
        if at is None:
            return []
        return seq[at : at + limit]
