"""The generic JSON format the engine teaches models whose template has no tool support.

The whole message is JSON: `{"tool_calls": [{"name": "f", "arguments": {...}}, ...]}` to call, or
`{"response": "..."}` to answer (its string, unescaped, is the content). It is llama.cpp's "generic"
format: under tool_choice=auto its grammar holds the model to one of the two objects from the first
token, so even a small model makes the choice explicitly instead of drifting into prose about the
tools. Plain JSON keeps it within reach of small models, which have seen far more JSON than any
vendor's tool markup. Text that is neither object (a model writing freely) is content.
"""

from __future__ import annotations

import json

from ..core.grammar import json_embed
from .base import ToolParser, repeated
from .jsonscan import Step

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# States in which the object read so far is still only markup (given back as content if it fails).
_MARKUP = ("open", "key", "colon", "bracket", "quote", "call_start", "call", "list_next")


class GenericJsonParser(ToolParser):
    name = "json"

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        # Our own format, so written compact: with one function offered, the grammar forces everything up
        # to the arguments' first value.
        calls = repeated("lzcall", '","', max_calls)
        return f'start: "{{\\"tool_calls\\":[" {calls} "]}}"'

    @classmethod
    def answer_grammar(cls) -> str | None:
        return f'lzanswer: "{{\\"response\\":" {json_embed({"type": "string"})} "}}"'

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # start | open | key | colon | bracket | call_start | call | list_next | close
        #       | quote | answer | answer_end | text
        self._state = "start"
        self._region = ""  # the object so far, while it may still turn out to be plain text
        self._key = ""
        self._escape = ""  # an escape sequence in the answer string, not yet complete
        self._high = ""  # a high surrogate waiting for its pair

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
            self._state = "open"
            self._region = ch
            return
        if state == "answer":
            self._answer_char(ch)
            return
        self._region += ch
        if (
            state in ("open", "colon", "bracket", "quote", "call_start", "list_next", "answer_end")
            and ch.isspace()
        ):
            return
        if state == "open":
            self._expect(ch, '"', "key")
        elif state == "key":
            if ch == '"':
                if self._key in ("tool_calls", "response"):
                    self._state = "colon"
                else:
                    self._fail()
            elif ch == "\\" or len(self._key) > 16:
                self._fail()
            else:
                self._key += ch
        elif state == "colon":
            self._expect(ch, ":", "bracket" if self._key == "tool_calls" else "quote")
        elif state == "bracket":
            self._expect(ch, "[", "call_start")
        elif state == "quote":
            if self._expect(ch, '"', "answer"):
                self._region = ""  # from here on the string is content, given out as it comes
        elif state == "call_start":
            self._begin_call()
            self._state = "call"
            self._call_char(ch)
        elif state == "call":
            self._call_char(ch)
        elif state == "list_next":
            if ch == ",":
                self._state = "call_start"
            elif ch == "]":
                self._state = "close"
            else:
                self._fail()
        elif state in ("close", "answer_end") and not ch.isspace():
            self._state = "text"  # whatever follows the object is content
            if ch == "}":
                self._skip_ws = True  # spacing after the object is not content
            else:
                self._content(ch)

    def _expect(self, ch: str, wanted: str, then: str) -> bool:
        if ch != wanted:
            self._fail()
            return False
        self._state = then
        return True

    def _answer_char(self, ch: str) -> None:
        """One character of the answer's JSON string: content, unescaped as it comes."""
        if self._escape:
            self._escape += ch
            if self._escape[1] == "u" and len(self._escape) < 6:
                return
            try:
                text = json.loads(f'"{self._high}{self._escape}"') if self._escape[1] == "u" else _ESCAPES[ch]
            except (KeyError, json.JSONDecodeError):
                text = self._escape  # not valid JSON: kept as written
            self._escape = ""
            if len(text) == 1 and 0xD800 <= ord(text) <= 0xDBFF and not self._high:
                self._high = f"\\u{ord(text):04x}"  # the pair's other half follows
                return
            self._high = ""
            self._content(text)
        elif ch == "\\":
            self._escape = ch
        elif ch == '"':
            self._state = "answer_end"
        else:
            self._content(ch)

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
        if not gave_calls:  # it was other JSON, not calls: all of it is content
            self._skip_ws = False
            self._content(self._region)

    def _end(self) -> None:
        if self._state in _MARKUP and not (self._committed or self._calls):
            self._content(self._region)
