"""The generic JSON format the engine teaches models whose template has no tool support.

The whole message is `{"tool_calls": [{"name": "f", "arguments": {...}}, ...]}`; anything else is a
plain-text answer. It is llama.cpp's "generic" format, and plain JSON keeps it within reach of small
models, which have seen far more JSON than any vendor's tool markup.
"""

from __future__ import annotations

from typing import ClassVar

from .base import ToolParser, repeated
from .jsonscan import Step

# The literal tokens before the first call, whitespace allowed between them.
_PREFIX = ("{", '"tool_calls"', ":", "[")


class GenericJsonParser(ToolParser):
    name = "json"
    lazy_triggers: ClassVar[tuple[str, ...]] = (r'\s*(\{\s*"tool_calls")[\s\S]*',)

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        calls = repeated("lzcall", '"," lz-ws', max_calls)
        return f'root ::= "{{" lz-ws "\\"tool_calls\\"" lz-ws ":" lz-ws "[" lz-ws {calls} lz-ws "]" lz-ws "}}"'

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "start"  # start | prefix | call_start | call | list_next | close | text
        self._region = ""
        self._token, self._pos = 0, 0

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "text":
            self._content(ch)
            return
        if state == "start":
            if ch.isspace():
                self._content(ch)
                return
            if ch != "{":
                self._state = "text"
                self._content(ch)
                return
            self._markup_begins()
            self._state, self._token, self._pos = "prefix", 0, 0
        self._region += ch
        if self._state == "prefix":
            self._prefix_char(ch)
        elif self._state == "call_start":
            if not ch.isspace():
                self._begin_call()
                self._state = "call"
                self._call_char(ch)
        elif self._state == "call":
            self._call_char(ch)
        elif self._state == "list_next":
            if ch == ",":
                self._state = "call_start"
            elif ch == "]":
                self._state = "close"
            elif not ch.isspace():
                self._fail()
        elif self._state == "close" and not ch.isspace():
            self._state = "text"  # whatever follows the object is content
            if ch != "}":
                self._content(ch)

    def _prefix_char(self, ch: str) -> None:
        token = _PREFIX[self._token]
        if self._pos == 0 and ch.isspace():
            return
        if ch != token[self._pos]:
            self._fail()
            return
        self._pos += 1
        if self._pos == len(token):
            self._token, self._pos = self._token + 1, 0
            if self._token == len(_PREFIX):
                self._state = "call_start"

    def _call_char(self, ch: str) -> None:
        step = self._read_call(ch)
        if step is Step.DONE:
            self._state = "list_next"
        elif step is Step.ERROR:
            self._fail()

    def _fail(self) -> None:
        gave_calls = self._committed or self._calls > 0
        self._end_call()
        self._state = "text"
        if not gave_calls:  # it was a JSON answer, not calls: all of it is content
            self._skip_ws = False
            self._content(self._region)

    def _end(self) -> None:
        if self._state in ("prefix", "call_start", "call", "list_next") and not (self._committed or self._calls):
            self._content(self._region)
