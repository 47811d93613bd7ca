"""What every tool-call parser shares: the event buffer, content whitespace policy, call emission.

A parser sees the model's text one character at a time (see `jsonscan`), so its events concatenate
to the same content and the same argument strings however the text was split. `parse(text)` is the
fold of `feed(text) + finish()`: streaming and non-streaming are one code path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ..core.ids import new_call_id
from ..core.scan import Match, StreamScanner
from ..core.types import Event, LazyTrigger, TextDelta, ToolCall, ToolCallArgsDelta, ToolCallStart
from .jsonscan import CallReader, Step


class MarkerFinder:
    """Finds marker strings in a character stream, holding back a tail that may start one."""

    def __init__(self, markers: tuple[str, ...]) -> None:
        self.markers = markers
        self._scanner = StreamScanner(markers)

    def push(self, ch: str) -> tuple[str, str | None]:
        """Returns (text now certain not to be markup, the marker completed by `ch` or None).

        One character at a time: the parser's state, and so what it looks for, may change after any."""
        released = ""
        for item in self._scanner.feed(ch):
            if isinstance(item, Match):
                return released, item.pattern
            released += item
        return released, None

    def flush(self) -> str:
        return self._scanner.flush()


class ToolParser:
    """Base of the format parsers. Subclasses implement `_step(ch)` and `_end()`."""

    name: ClassVar[str]
    # Substrings of a chat template that mean the model writes this format.
    template_markers: ClassVar[tuple[str, ...]] = ()
    # The key the format names the arguments by (what the grammar makes the model write).
    args_key: ClassVar[str] = "arguments"
    # Where a call begins in free text: under tool_choice=auto the call grammar starts there (a lazy
    # grammar). Empty: no lazy grammar.
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = ()

    def __init__(self, new_id: Callable[[], str] = new_call_id) -> None:
        self._new_id = new_id
        self._events: list[Event] = []
        self._ws = ""  # whitespace held back: it is dropped if markup follows it
        self._skip_ws = False  # just after a call: leading whitespace is markup spacing, not content
        self._calls = 0
        self._reader: CallReader | None = None
        self._index: int | None = None  # the index of the call being read, once it has a name

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        """Lark rules (llguidance's dialect) defining `start` as this format's calls (at least one, at most
        `max_calls`; None: no limit), in terms of a rule `lzcall` (one call object, see `grammar.py`)
        and `lz_ws` (optional whitespace). None: the format has no JSON call grammar."""
        return None

    @classmethod
    def answer_grammar(cls) -> str | None:
        """Lark rules defining `lzanswer`, a plain answer written in this format (the generic format
        wraps it in JSON), or None when answers are free text."""
        return None

    # -- the TextParser protocol --------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        for ch in text:
            self._step(ch)
        return self._drain()

    def finish(self) -> list[Event]:
        self._end()
        if self._ws and not self._calls:
            self._emit_text(self._ws)
        self._ws = ""
        return self._drain()

    # -- for subclasses -----------------------------------------------------------------------------

    def _step(self, ch: str) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        raise NotImplementedError

    def _drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _emit_text(self, text: str) -> None:
        if not text:
            return
        if self._events and isinstance(self._events[-1], TextDelta):
            self._events[-1] = TextDelta(self._events[-1].text + text)
        else:
            self._events.append(TextDelta(text))

    def _content(self, text: str) -> None:
        """Model text that is content. Whitespace waits until something visible follows it."""
        for ch in text:
            if ch.isspace():
                if not self._skip_ws:
                    self._ws += ch
                continue
            self._skip_ws = False
            self._emit_text(self._ws + ch)
            self._ws = ""

    def _markup_begins(self) -> None:
        self._ws = ""

    def _begin_call(self) -> None:
        self._markup_begins()
        self._reader = CallReader()
        self._index = None

    def _read_call(self, ch: str) -> Step:
        """Feed the current call object; emits the call's start and arguments as they become known."""
        reader = self._reader
        assert reader is not None
        step = reader.push(ch)
        if step is Step.ERROR:
            return step
        if self._index is None and reader.name is not None:
            self._index = self._start_call(reader.name)
        if self._index is not None:
            fragment = reader.take_args()
            if fragment:
                self._events.append(ToolCallArgsDelta(self._index, fragment))
        if step is Step.DONE:
            if self._index is None:  # a JSON object, but not a call
                return Step.ERROR
            if not reader.saw_args:
                self._events.append(ToolCallArgsDelta(self._index, "{}"))
            self._end_call()
        return step

    @property
    def _committed(self) -> bool:
        """Whether the current call has been announced (its text can no longer be given back)."""
        return self._index is not None

    def _start_call(self, name: str) -> int:
        index = self._calls
        self._calls += 1
        self._events.append(ToolCallStart(index, self._new_id(), name))
        return index

    def _emit_whole_call(self, name: str, arguments: str) -> None:
        index = self._start_call(name)
        self._events.append(ToolCallArgsDelta(index, arguments))
        self._skip_ws = True

    def _end_call(self) -> None:
        self._reader = None
        self._index = None
        self._skip_ws = True


def repeated(first: str, separator: str, max_calls: int | None) -> str:
    """Lark for `first`, then `separator first` up to `max_calls - 1` more times (None: any number)."""
    if max_calls is None:
        return f"{first} ({separator} {first})*"
    return f"{first} ({separator} {first}){{0,{max_calls - 1}}}" if max_calls > 1 else first


def fold(events: list[Event]) -> tuple[str | None, list[ToolCall]]:
    """Content (None when empty) and the calls, from a parser's events."""
    text: list[str] = []
    heads: dict[int, ToolCallStart] = {}
    args: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ToolCallStart):
            heads[event.index], args[event.index] = event, []
        elif isinstance(event, ToolCallArgsDelta):
            args[event.index].append(event.fragment)
    calls = [ToolCall(heads[i].id, heads[i].name, "".join(args[i])) for i in sorted(heads)]
    return ("".join(text) or None), calls
