"""DeepSeek-R1 (and its distills, V3): calls between DeepSeek's own markers,

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
    ```json
    {...}
    ```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>

after any text. The JSON fence is optional (V3.1 writes the arguments right after the name).
"""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger, ToolCallArgsDelta
from .base import MarkerFinder, ToolParser
from .jsonscan import JsonValueScanner, Step, significant

CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL_BEGIN, CALL_END, SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
FENCE = "```"


class DeepSeekR1Parser(ToolParser):
    name = "deepseek_r1"
    template_markers = (CALLS_BEGIN,)
    # No call grammar: the name is outside the JSON object (a forced call uses the generic form).
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = ()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # text | between | type | name | pre_args | args | post_args
        self._state = "text"
        self._text = MarkerFinder((CALLS_BEGIN, CALL_BEGIN))
        self._between = MarkerFinder((CALL_BEGIN, CALLS_END))
        self._sep = MarkerFinder((SEP,))
        self._end_marker = MarkerFinder((CALL_END,))
        self._name = ""
        self._pre = ""
        self._args: JsonValueScanner | None = None
        self._saw_args = False

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "text":
            released, marker = self._text.push(ch)
            self._content(released)
            if marker:
                self._markup_begins()
                self._state = "type" if marker == CALL_BEGIN else "between"
        elif state == "between":
            _, marker = self._between.push(ch)
            if marker == CALL_BEGIN:
                self._state = "type"
            elif marker == CALLS_END:
                self._state = "text"
        elif state == "type":  # `function`, up to the separator
            _, marker = self._sep.push(ch)
            if marker:
                self._state, self._name = "name", ""
        elif state == "name":
            if ch == "\n" or (ch == "{" and self._name.strip()):
                self._index = self._start_call(self._name.strip())
                self._state, self._pre, self._saw_args = "pre_args", "", False
                self._args = JsonValueScanner()
                if ch == "{":
                    self._step(ch)
            else:
                self._name += ch
        elif state == "pre_args":  # an optional ```json fence before the arguments
            if ch in "{[":
                self._state = "args"
                self._step(ch)
            else:
                self._pre += ch
                if len(self._pre) > 16:  # not a fence: no arguments we can read
                    self._state = "post_args"
        elif state == "args":
            assert self._args is not None and self._index is not None
            step = self._args.push(ch)
            if step is not Step.ERROR and step is not Step.DONE_BEFORE and significant(self._args, ch):
                self._saw_args = True
                self._events.append(ToolCallArgsDelta(self._index, ch))
            if step is not Step.MORE:
                self._state = "post_args"
        else:  # post_args: the closing fence, up to the call's end marker
            _, marker = self._end_marker.push(ch)
            if marker:
                self._close_call()
                self._state = "between"

    def _close_call(self) -> None:
        if self._index is not None and not self._saw_args:
            self._events.append(ToolCallArgsDelta(self._index, "{}"))
        self._end_call()
        self._args = None

    def _end(self) -> None:
        if self._state in ("pre_args", "args", "post_args"):
            self._close_call()
        elif self._state == "text":
            self._content(self._text.flush())
        self._state = "text"
