"""Watching generated text for a lazy grammar's trigger, the same way in every backend.

A lazy grammar (tool calls under tool_choice=auto) leaves the model free until the output reaches one
of its `LazyTrigger`s; from then on the grammar constrains it, starting with the trigger's literal. The
watch reads each token once: bytes go through an incremental UTF-8 decoder, characters through one
automaton over every trigger's literals (`core.scan`), so the cost is linear in the output however long
the model writes before calling a tool.

The backend then feeds the grammar the trigger text itself, checking it first: a grammar that rejects
its own trigger text must never reach llama.cpp's accept, which throws a C++ exception that ctypes
cannot catch (the whole server would abort).
"""

from __future__ import annotations

import bisect
import codecs
from collections import deque
from dataclasses import dataclass

from ..core.scan import compile_patterns
from ..core.types import LazyTrigger


@dataclass(frozen=True)
class Trigger:
    """Where a trigger fired: the grammar's text from that point, and the tokens that carry it."""

    text: str  # from the trigger's start to the end of the output so far
    tokens: tuple[int, ...]  # every token that overlaps `text`, in order
    lead: str  # the part of tokens[0] before `text` (a token may straddle the start)


class _Arming:
    """For one trigger: at the last few character positions, whether its literal may begin there.

    A position is armed when the text before it is the trigger's context: the start of the output or
    the `after` marker, then only whitespace. Only the last len(literal) + 1 positions can matter."""

    def __init__(self, trigger: LazyTrigger, literal: int, after: int | None) -> None:
        self.literal, self.after, self.length = literal, after, len(trigger.literal)
        self.anywhere = trigger.after is None and not trigger.at_start
        self.armed: deque[bool] = deque([trigger.at_start], maxlen=self.length + 1)

    def step(self, ch: str, ending: tuple[int, ...]) -> bool:
        """Account for one more character; whether it completes the literal at an armed position."""
        if not self.anywhere:
            marker_ends = self.after is not None and self.after in ending
            self.armed.append(marker_ends or (self.armed[-1] and ch.isspace()))
        if self.literal not in ending:
            return False
        return self.anywhere or (len(self.armed) > self.length and self.armed[0])


class TriggerWatch:
    def __init__(self, triggers: tuple[LazyTrigger, ...]) -> None:
        literals = tuple(dict.fromkeys(t.literal for t in triggers))
        markers = tuple(dict.fromkeys(t.after for t in triggers if t.after is not None))
        self.automaton = compile_patterns(literals + markers)
        index = {pattern: i for i, pattern in enumerate(self.automaton.patterns)}
        self.arming = [
            _Arming(t, index[t.literal], None if t.after is None else index[t.after]) for t in triggers
        ]
        self.lengths = [len(t.literal) for t in triggers]
        self.state = 0
        # Invalid bytes become one lone surrogate each, so characters still map back to byte offsets.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.chars = 0  # characters decoded so far
        self.size = 0  # bytes fed so far
        # Per token: its id, where its piece starts in the output, the piece (to cut the lead from).
        self.tokens: list[int] = []
        self.token_starts: list[int] = []
        self.pieces: list[bytes] = []
        # Per token that completed characters: the first one's offset in characters and bytes, the text.
        self.chunk_chars: list[int] = []
        self.chunk_bytes: list[int] = []
        self.chunks: list[str] = []
        self.fired = False

    def feed(self, token: int, piece: bytes) -> Trigger | None:
        """Add one generated token; the trigger, the first time the output reaches one."""
        if self.fired:
            return None
        self.tokens.append(token)
        self.token_starts.append(self.size)
        self.pieces.append(piece)
        pending = len(self.decoder.getstate()[0])  # bytes of a character begun by earlier tokens
        # A token can end inside a multi-byte character: the decoder keeps it until the rest arrives.
        text = self.decoder.decode(piece)
        if text:
            self.chunk_chars.append(self.chars)
            self.chunk_bytes.append(self.size - pending)
            self.chunks.append(text)
        self.size += len(piece)
        start = self._scan(text)
        if start is None:
            return None
        self.fired = True
        return self._trigger(start)

    def _scan(self, text: str) -> int | None:
        """Read `text`; the character offset where the grammar starts, once a trigger completes."""
        automaton, state = self.automaton, self.state
        for ch in text:
            state = automaton.step(state, ch)
            self.chars += 1
            ending = automaton.ending(state)
            # Every trigger sees every character (their arming depends on it); the earliest start wins.
            fired = [self.lengths[i] for i, arming in enumerate(self.arming) if arming.step(ch, ending)]
            if fired:
                return self.chars - max(fired)
        self.state = state
        return None

    def _trigger(self, start: int) -> Trigger:
        chunk = bisect.bisect_right(self.chunk_chars, start) - 1
        within = start - self.chunk_chars[chunk]
        head = self.chunks[chunk]
        start_byte = self.chunk_bytes[chunk] + len(head[:within].encode("utf-8", "surrogateescape"))
        # The token holding the start's first byte: the last one to begin at or before it.
        first = bisect.bisect_right(self.token_starts, start_byte) - 1
        lead = self.pieces[first][: start_byte - self.token_starts[first]]
        text = head[within:] + "".join(self.chunks[chunk + 1 :])
        tokens = tuple(self.tokens[first:])
        return Trigger(text=_valid(text), tokens=tokens, lead=lead.decode("utf-8", "replace"))


def _valid(text: str) -> str:
    """The text without the invalid bytes the decoder escaped (what the grammar is fed is text)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "ignore")
