"""Literal patterns found in a stream of text in one pass: stop strings, tool-call markers, triggers.

An Aho–Corasick automaton over the patterns. Its state after any text is the longest suffix of that
text which is a prefix of some pattern, and that suffix is exactly what has to be held back: every
character before it can no longer be part of a match. Each character moves the state once; failure
links are followed at most as often as characters were read, so a stream costs time linear in its
length, whatever the token boundaries were.

Matches are reported as soon as they complete: the first pattern to end wins, the longest of those
ending at the same place (it started earliest). That choice depends on the text alone, not on how it
was split, which is what makes streaming and whole-text runs agree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


class Automaton:
    """The patterns compiled. Immutable once built, so one instance can serve many streams and threads."""

    def __init__(self, patterns: Iterable[str]) -> None:
        # Empty patterns would match everywhere; duplicates would only be reported twice.
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(p for p in patterns if p))
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._depth: list[int] = [0]
        own: list[list[int]] = [[]]
        for index, pattern in enumerate(self.patterns):
            state = 0
            for ch in pattern:
                nxt = self._goto[state].get(ch)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[state][ch] = nxt
                    self._goto.append({})
                    self._fail.append(0)
                    self._depth.append(self._depth[state] + 1)
                    own.append([])
                state = nxt
            own[state].append(index)
        self._ending = self._link(own)

    def _link(self, own: list[list[int]]) -> list[tuple[int, ...]]:
        """Failure links, breadth first; and per state, every pattern that ends there (longest first)."""
        ending: list[tuple[int, ...]] = [()] * len(self._goto)
        queue = deque(self._goto[0].values())
        while queue:
            state = queue.popleft()
            # A pattern ending at the failure state is a suffix of this one: it ends here too.
            ending[state] = tuple(own[state]) + ending[self._fail[state]]
            for ch, child in self._goto[state].items():
                self._fail[child] = self._advance(self._fail[state], ch)
                queue.append(child)
        return ending

    def _advance(self, state: int, ch: str) -> int:
        goto, fail = self._goto, self._fail
        while True:
            nxt = goto[state].get(ch)
            if nxt is not None:
                return nxt
            if state == 0:
                return 0
            state = fail[state]

    def step(self, state: int, ch: str) -> int:
        """The state after reading `ch` in `state` (0: the start, nothing held)."""
        return self._advance(state, ch)

    def ending(self, state: int) -> tuple[int, ...]:
        """Indices into `patterns` of every pattern that ends at this state, longest first."""
        return self._ending[state]

    def depth(self, state: int) -> int:
        """How many of the last characters read may still begin a match."""
        return self._depth[state]


@lru_cache(maxsize=256)
def compile_patterns(patterns: tuple[str, ...]) -> Automaton:
    """The automaton for `patterns`, shared: the same few stop and marker sets recur on every request."""
    return Automaton(patterns)


@dataclass(frozen=True, slots=True)
class Match:
    pattern: str
    start: int  # in characters since the scanner was created


class StreamScanner:
    """Finds non-overlapping pattern matches in text fed piece by piece, releasing text once certain.

    `feed` returns, in order, text that can no longer begin a match and the matches themselves (their
    text is not released). After a match the scan starts afresh right behind it.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.automaton = compile_patterns(patterns)
        self._state = 0
        # Characters held back; a deque so each one is appended and released once (no re-slicing).
        self._held: deque[str] = deque()
        self.position = 0  # characters fed so far

    @property
    def held(self) -> str:
        return "".join(self._held)

    def feed(self, text: str) -> list[str | Match]:
        automaton = self.automaton
        if not automaton.patterns:
            self.position += len(text)
            return [text] if text else []
        out: list[str | Match] = []
        released: list[str] = []
        held, state = self._held, self._state
        for ch in text:
            state = automaton.step(state, ch)
            held.append(ch)
            self.position += 1
            ending = automaton.ending(state)
            if ending:
                pattern = automaton.patterns[ending[0]]
                for _ in range(len(held) - len(pattern)):
                    released.append(held.popleft())
                if released:
                    out.append("".join(released))
                    released = []
                out.append(Match(pattern, self.position - len(pattern)))
                held.clear()
                state = 0
                continue
            keep = automaton.depth(state)
            while len(held) > keep:
                released.append(held.popleft())
        if released:
            out.append("".join(released))
        self._state = state
        return out

    def flush(self) -> str:
        """The end of the text: what was held back cannot become a match any more."""
        held = "".join(self._held)
        self._held.clear()
        self._state = 0
        return held
