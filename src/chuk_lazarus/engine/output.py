"""From sampled tokens to engine events: UTF-8 reassembly, stop strings, then tool-call parsing.

Runs on the backend's thread, one `OutputPipeline` per sequence. Text is only ever released when it
is certain: bytes of a character split across tokens wait for the rest, and a tail that could be
the beginning of a stop string waits until it either completes the stop (and is dropped) or cannot.
"""

from __future__ import annotations

import codecs
from typing import Protocol

from ..core.scan import Match, StreamScanner
from ..core.types import Event, TextDelta, TokenLogprob


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
    """Finds the first stop string to complete in a stream of text, holding back possible partial matches.

    "First to complete" (see `core.scan`) is where generation must end anyway, and it does not depend
    on how the text was split into tokens."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.scanner = StreamScanner(self.stops)
        self.matched: str | None = None

    def push(self, text: str) -> str:
        """Add text; return what can be released. After a match, `matched` is set and nothing more."""
        if self.matched is not None:
            return ""
        released: list[str] = []
        for item in self.scanner.feed(text):
            if isinstance(item, Match):
                self.matched = item.pattern
                break  # the text after a stop is never shown
            released.append(item)
        return "".join(released)

    def flush(self) -> str:
        return self.scanner.flush()


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
        text = ""
        if self.stops.matched is None:
            # The decoder's last word (U+FFFD for a cut-off character) is text too: it may end a stop.
            text = self.stops.push(self.decoder.decode(b"", final=True))
            if self.stops.matched is None:
                text += self.stops.flush()
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
