"""From sampled tokens to engine events: UTF-8 reassembly, the reasoning split, stop strings, then
tool-call parsing.

Runs on the backend's thread, one `OutputPipeline` per sequence. Text is only ever released when it
is certain: bytes of a character split across tokens wait for the rest, a tail that could be a
reasoning marker waits for the splitter to know, and a tail that could be the beginning of a stop
string waits until it either completes the stop (and is dropped) or cannot.

The reasoning splitter comes first, so reasoning never reaches the stop strings or the tool parser:
a stop string ends the answer, not the thinking about it (a model musing "I should not say STOP"),
and a `<tool_call>` the model imagines while thinking is not a call, while one after the reasoning is.
"""

from __future__ import annotations

import codecs
from typing import Protocol

from ..core.scan import Match, StreamScanner
from ..core.types import Event, ReasoningDelta, TextDelta, TokenLogprob
from ..tools.reasoning import ContentDelta, ReasoningSplitter


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
    """`splitter`: the model's reasoning format (None: all of it is content); `hide_reasoning`: the
    reasoning is split off and dropped (the request turned reasoning off, and the model reasoned anyway)."""

    def __init__(
        self,
        stops: tuple[str, ...],
        parser: TextParser | None = None,
        splitter: ReasoningSplitter | None = None,
        *,
        hide_reasoning: bool = False,
    ) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stops = StopMatcher(stops)
        self.parser: TextParser = parser or PlainText()
        self.splitter = splitter
        self.hide_reasoning = hide_reasoning
        self.pending_logprobs: list[TokenLogprob] = []
        self.reasoning_tokens = 0  # tokens spent inside the reasoning (its markup included)

    @property
    def stop_sequence(self) -> str | None:
        return self.stops.matched

    def push(self, piece: bytes, logprob: TokenLogprob | None = None) -> tuple[list[Event], bool]:
        """Take one token's bytes. Returns the events now certain, and whether to keep generating."""
        text = self.decoder.decode(piece)
        splitter = self.splitter
        thinking = splitter is not None and splitter.in_reasoning
        events = self._split(text)
        if splitter is not None and (thinking or splitter.in_reasoning):
            self.reasoning_tokens += 1
        elif logprob is not None:  # a reasoning token's logprob is not the answer's
            self.pending_logprobs.append(logprob)
        return self._attach_logprobs(events), self.stops.matched is None

    def finish(self) -> list[Event]:
        """The sequence ended: release what was held back (incomplete UTF-8 becomes U+FFFD)."""
        events = self._split(self.decoder.decode(b"", final=True), final=True)
        if self.stops.matched is None:
            events += self.parser.feed(self.stops.flush())
        events += self.parser.finish()
        return self._attach_logprobs(events)

    def _split(self, text: str, *, final: bool = False) -> list[Event]:
        """Reasoning out as it is, content through the stop strings and the tool parser."""
        if self.splitter is None:
            return self._content(text)
        deltas = self.splitter.feed(text)
        if final:
            deltas += self.splitter.finish()
        events: list[Event] = []
        for delta in deltas:
            if isinstance(delta, ContentDelta):
                events += self._content(delta.text)
            elif not self.hide_reasoning and self.stops.matched is None:
                events.append(ReasoningDelta(delta.text))
        return events

    def _content(self, text: str) -> list[Event]:
        # The decoder's last word (U+FFFD for a cut-off character) is text too: it may end a stop.
        if self.stops.matched is not None:
            return []
        return self.parser.feed(self.stops.push(text))

    def _attach_logprobs(self, events: list[Event]) -> list[Event]:
        if not self.pending_logprobs:
            return events
        for i, event in enumerate(events):
            if isinstance(event, TextDelta):
                events[i] = TextDelta(event.text, event.logprobs + tuple(self.pending_logprobs))
                self.pending_logprobs = []
                break
        return events
