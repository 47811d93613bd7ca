"""From sampled tokens to engine events: UTF-8 reassembly, stop strings, then tool-call parsing.

Runs on the backend's thread, one `OutputPipeline` per sequence. Text is only ever released when it
is certain: bytes of a character split across tokens wait for the rest, and a tail that could be
the beginning of a stop string waits until it either completes the stop (and is dropped) or cannot.
"""

from __future__ import annotations

import codecs
from typing import Protocol

from .types import Event, TextDelta, TokenLogprob


class TextParser(Protocol):
    """Splits released text into content and tool-call events (see `chuk_lazarus.tools`)."""

    def feed(self, text: str) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


class PlainText:
    """The parser used when no tools are offered: everything is content."""

    def feed(self, text: str) -> list[Event]:
        return [TextDelta(text)] if text else []

    def finish(self) -> list[Event]:
        return []


class StopMatcher:
    """Finds the earliest stop string in a stream of text, holding back possible partial matches."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.buffer = ""
        self.matched: str | None = None

    def push(self, text: str) -> str:
        """Add text; return what can be released. After a match, `matched` is set and nothing more."""
        if self.matched is not None:
            return ""
        if not self.stops:
            return text
        self.buffer += text
        first: tuple[int, str] | None = None
        for stop in self.stops:
            at = self.buffer.find(stop)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, stop)
        if first is not None:
            released, self.matched = self.buffer[: first[0]], first[1]
            self.buffer = ""
            return released
        hold = self._partial_tail()
        released = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold :]
        return released

    def _partial_tail(self) -> int:
        """Length of the longest buffer suffix that is a proper prefix of some stop string."""
        longest = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.buffer)), longest, -1):
                if self.buffer.endswith(stop[:n]):
                    longest = n
                    break
        return longest

    def flush(self) -> str:
        released, self.buffer = self.buffer, ""
        return released


class OutputPipeline:
    def __init__(self, stops: tuple[str, ...], parser: TextParser | None = None) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stops = StopMatcher(stops)
        self.parser: TextParser = parser or PlainText()
        self.pending_logprobs: list[TokenLogprob] = []

    @property
    def stop_sequence(self) -> str | None:
        return self.stops.matched

    def push(self, piece: bytes, logprob: TokenLogprob | None = None) -> tuple[list[Event], bool]:
        """Take one token's bytes. Returns the events now certain, and whether to keep generating."""
        if logprob is not None:
            self.pending_logprobs.append(logprob)
        text = self.stops.push(self.decoder.decode(piece))
        events = self._attach_logprobs(self.parser.feed(text))
        return events, self.stops.matched is None

    def finish(self) -> list[Event]:
        """The sequence ended: release what was held back (incomplete UTF-8 becomes U+FFFD)."""
        tail = "" if self.stops.matched is not None else self.decoder.decode(b"", final=True)
        text = self.stops.flush() + tail if self.stops.matched is None else ""
        events = self.parser.feed(text) + self.parser.finish()
        return self._attach_logprobs(events)

    def _attach_logprobs(self, events: list[Event]) -> list[Event]:
        if not self.pending_logprobs:
            return events
        for i, event in enumerate(events):
            if isinstance(event, TextDelta):
                events[i] = TextDelta(event.text, event.logprobs + tuple(self.pending_logprobs))
                self.pending_logprobs = []
                break
        return events
