"""Character-at-a-time JSON scanning, shared by the tool-call parsers.

The parsers must give the same result however the text is split into deltas, so they look at one
character at a time and decide only from what they have seen. These scanners never build JSON values;
they find where a value ends, so arguments can be streamed as the model wrote them — compacted: the
whitespace between JSON tokens is dropped (`significant`), giving the `{"a":1}` form OpenAI's own
calls have whatever spacing the model used.
"""

from __future__ import annotations

import json
from enum import Enum


class Step(Enum):
    MORE = 0  # consumed; the value goes on
    DONE = 1  # consumed; that character ended the value
    DONE_BEFORE = 2  # not consumed; the value ended just before it (numbers, true/false/null)
    ERROR = 3  # not JSON


_SCALAR_CHARS = set("0123456789+-.eEtrufalsn")
_SCALAR_ENDS = set(",}] \t\r\n;)")


class JsonValueScanner:
    """Finds the end of one JSON value (structure only: brackets, strings and escapes)."""

    def __init__(self) -> None:
        self.kind: str | None = None  # "container" | "string" | "scalar"
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def push(self, ch: str) -> Step:
        if self.kind is None:
            if ch in "{[":
                self.kind, self.depth = "container", 1
            elif ch == '"':
                self.kind, self.in_string = "string", True
            elif ch in "-0123456789tfn":
                self.kind = "scalar"
            else:
                return Step.ERROR
            return Step.MORE
        if self.in_string:
            if self.escaped:
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.in_string = False
                if self.kind == "string":
                    return Step.DONE
            return Step.MORE
        if self.kind == "scalar":
            if ch in _SCALAR_ENDS:
                return Step.DONE_BEFORE
            return Step.MORE if ch in _SCALAR_CHARS else Step.ERROR
        if ch == '"':
            self.in_string = True
        elif ch in "{[":
            self.depth += 1
        elif ch in "}]":
            self.depth -= 1
            if self.depth == 0:
                return Step.DONE
        return Step.MORE


def significant(scanner: JsonValueScanner, ch: str) -> bool:
    """Whether `ch`, just pushed into `scanner`, belongs in the compact text of the value."""
    return scanner.in_string or not ch.isspace()


ARGUMENT_KEYS = ("arguments", "parameters")


class CallReader:
    """Reads one call object, `{"name": "f", "arguments": {...}}`, keys in any order.

    `name` is set once its string is complete; `take_args()` returns the argument text read since
    the last call, compacted. `raw` is everything consumed, for giving the text back when it turns
    out not to be a call.
    """

    def __init__(self) -> None:
        self.state = "open"
        self.raw = ""
        self.name: str | None = None
        self.saw_args = False
        self._key = ""
        self._key_escaped = False
        self._value: JsonValueScanner | None = None
        self._value_text = ""
        self._args_pending = ""

    def take_args(self) -> str:
        out, self._args_pending = self._args_pending, ""
        return out

    def push(self, ch: str) -> Step:
        """MORE, DONE (the closing brace) or ERROR; never DONE_BEFORE."""
        self.raw += ch
        step = self._push(ch)
        if step is Step.DONE_BEFORE:  # a number/literal value ended at this delimiter: re-read it
            if self._end_value() is Step.ERROR:
                return Step.ERROR
            step = self._push(ch)
        return step

    def _push(self, ch: str) -> Step:
        state = self.state
        if state == "value":
            assert self._value is not None
            step = self._value.push(ch)
            if step is Step.ERROR or step is Step.DONE_BEFORE:
                return step
            self._value_text += ch
            if self._current_is_args() and significant(self._value, ch):
                self._args_pending += ch
            if step is Step.DONE:
                return self._end_value()
            return Step.MORE
        if ch.isspace() and state != "key":
            return Step.MORE
        if state == "open":
            return self._go("key_or_close") if ch == "{" else Step.ERROR
        if state in ("key_or_close", "key_start"):
            if ch == '"':
                self._key, self._key_escaped = '"', False
                return self._go("key")
            if ch == "}" and state == "key_or_close":
                self.state = "closed"
                return Step.DONE
            return Step.ERROR
        if state == "key":
            self._key += ch
            if self._key_escaped:
                self._key_escaped = False
            elif ch == "\\":
                self._key_escaped = True
            elif ch == '"':
                return self._go("colon")
            return Step.MORE
        if state == "colon":
            if ch != ":":
                return Step.ERROR
            self._value, self._value_text = JsonValueScanner(), ""
            if self._current_is_args():
                self.saw_args = True
            return self._go("value_start")
        if state == "value_start":
            self.state = "value"
            return self._push(ch)
        if state == "after_value":
            if ch == ",":
                return self._go("key_start")
            if ch == "}":
                self.state = "closed"
                return Step.DONE
        return Step.ERROR

    def _go(self, state: str) -> Step:
        self.state = state
        return Step.MORE

    def _key_name(self) -> str:
        try:
            return str(json.loads(self._key))
        except json.JSONDecodeError:
            return ""

    def _current_is_args(self) -> bool:
        return self._key_name() in ARGUMENT_KEYS

    def _end_value(self) -> Step:
        if self._key_name() == "name":
            try:
                name = json.loads(self._value_text)
            except json.JSONDecodeError:
                return Step.ERROR
            if not isinstance(name, str) or not name:
                return Step.ERROR
            self.name = name
        self.state = "after_value"
        return Step.MORE
