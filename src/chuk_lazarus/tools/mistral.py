"""Mistral: `[TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]` (v3), or
`[TOOL_CALLS]f[ARGS]{...}` repeated (v11 and later; v13 may put `[CALL_ID]id` before `[ARGS]`, as its
template renders history; the id is dropped, ours are used), after any text."""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger, ToolCallArgsDelta
from .base import MarkerFinder, ToolParser, repeated
from .jsonscan import JsonValueScanner, Step, significant

TOOL_CALLS, ARGS, CALL_ID = "[TOOL_CALLS]", "[ARGS]", "[CALL_ID]"


class MistralParser(ToolParser):
    name = "mistral"
    template_markers = (TOOL_CALLS,)
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = (LazyTrigger(TOOL_CALLS),)

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        calls = repeated("lzcall", '"," lz_ws', max_calls)
        return f'start: "[TOOL_CALLS]" lz_ws "[" lz_ws {calls} lz_ws "]"'

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "text"  # text | after_marker | call_start | call | list_next | name | args
        self._text = MarkerFinder((TOOL_CALLS,))
        self._args_marker = MarkerFinder((ARGS, CALL_ID))
        self._in_id = False
        self._name = ""
        self._args: JsonValueScanner | None = None

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "text":
            released, marker = self._text.push(ch)
            self._content(released)
            if marker:
                self._markup_begins()
                self._state = "after_marker"
        elif state == "after_marker":
            if ch.isspace():
                return
            if ch == "[":
                self._state = "call_start"
            else:
                self._state, self._name, self._in_id = "name", "", False
                self._step(ch)
        elif state == "call_start":
            if not ch.isspace():
                self._begin_call()
                self._state = "call"
                self._step(ch)
        elif state == "call":
            step = self._read_call(ch)
            if step is Step.DONE:
                self._state = "list_next"
            elif step is Step.ERROR:
                self._end_call()
                self._state = "text"  # a broken call list: what follows is dropped up to the next text
        elif state == "list_next":
            if ch == ",":
                self._state = "call_start"
            elif ch == "]":
                self._state = "text"
        elif state == "name":
            released, marker = self._args_marker.push(ch)
            if not self._in_id:
                self._name += released
            if marker == CALL_ID:
                self._in_id = True
            elif marker:
                self._index = self._start_call(self._name.strip())
                self._state, self._args = "args", JsonValueScanner()
        elif state == "args":
            assert self._args is not None and self._index is not None
            if self._args.kind is None and ch.isspace():
                return
            step = self._args.push(ch)
            if (step is Step.MORE or step is Step.DONE) and significant(self._args, ch):
                self._events_args(ch)
            if step is not Step.MORE:
                self._end_call()
                self._state = "text"
                if step is Step.DONE_BEFORE:
                    self._step(ch)

    def _events_args(self, fragment: str) -> None:
        assert self._index is not None
        self._events.append(ToolCallArgsDelta(self._index, fragment))

    def _end(self) -> None:
        if self._state == "text":
            self._content(self._text.flush())
