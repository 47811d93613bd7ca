"""gpt-oss harmony: a call is a message addressed to a function,
`<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>`
(or with the recipient before the channel: `<|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>`).

Reads the raw output or the content left after `reasoning.py`'s harmony splitter (which keeps call
messages as they are): `final` and preamble (`commentary` without a recipient) bodies are content,
`analysis` bodies are reasoning and not this parser's to give out, text outside any message is content.
"""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger, ToolCallArgsDelta
from .base import MarkerFinder, ToolParser
from .jsonscan import JsonValueScanner, Step, significant
from .reasoning import H_CALL, H_CHANNEL, H_END, H_MESSAGE, H_RETURN, H_START, parse_harmony_header

FUNCTIONS = "functions."


class HarmonyParser(ToolParser):
    name = "harmony"
    template_markers = (H_CALL, "to=functions.")
    # No call grammar: the function's name is in the header, outside the call object the grammar
    # builds on. A forced call falls back to the generic JSON form (see engine/tool_plan.py).
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = ()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "text"  # text | header | body | args | rest
        self._text = MarkerFinder((H_START, H_CHANNEL, H_END, H_CALL, H_RETURN))
        self._header_end = MarkerFinder((H_MESSAGE,))
        self._body_end = MarkerFinder((H_END, H_CALL, H_RETURN))
        self._header = ""
        self._route = "content"  # content | drop
        self._args: JsonValueScanner | None = None
        self._saw_args = False

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "text":
            released, marker = self._text.push(ch)
            self._content(released)
            if marker in (H_START, H_CHANNEL):
                self._markup_begins()
                self._state, self._header = "header", marker
            elif marker:
                self._markup_begins()  # a stray end of message
        elif state == "header":
            released, marker = self._header_end.push(ch)
            self._header += released
            if marker:
                self._open_body()
        elif state == "body":
            released, marker = self._body_end.push(ch)
            if self._route == "content":
                self._content(released)
            if marker:
                self._state = "text"
        elif state == "args":
            assert self._args is not None and self._index is not None
            if self._args.kind is None and ch.isspace():
                return
            step = self._args.push(ch)
            if step is Step.ERROR:
                self._state = "rest"  # not JSON: the call keeps what it had; the rest of the body is dropped
            elif step is not Step.DONE_BEFORE and significant(self._args, ch):
                self._emit_args(ch)
            if step is Step.DONE or step is Step.DONE_BEFORE:
                self._state = "rest"
            if step is Step.DONE_BEFORE or step is Step.ERROR:
                self._step(ch)
        else:  # rest: what follows the arguments up to the end of the message
            _, marker = self._body_end.push(ch)
            if marker:
                self._close_call()

    def _open_body(self) -> None:
        channel, recipient = parse_harmony_header(self._header)
        if recipient is not None and recipient.startswith(FUNCTIONS):
            self._index = self._start_call(recipient[len(FUNCTIONS) :])
            self._args, self._state = JsonValueScanner(), "args"
            self._saw_args = False
            return
        self._route = "drop" if channel == "analysis" or recipient is not None else "content"
        self._state = "body"

    def _emit_args(self, fragment: str) -> None:
        assert self._index is not None
        self._saw_args = True
        self._events.append(ToolCallArgsDelta(self._index, fragment))

    def _close_call(self) -> None:
        if self._index is not None and not self._saw_args:
            self._emit_args("{}")
        self._end_call()
        self._args, self._state = None, "text"

    def _end(self) -> None:
        if self._state in ("args", "rest"):
            self._close_call()  # cut off: the call ends with what it had
        elif self._state == "text":
            self._content(self._text.flush())
        elif self._state == "body" and self._route == "content":
            self._content(self._body_end.flush())
        self._state = "text"
