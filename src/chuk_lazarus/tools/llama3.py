"""Llama 3.x JSON: the message is `{"name": "f", "parameters": {...}}` (calls separated by `;`),
optionally after `<|python_tag|>`. A message that starts otherwise is plain text."""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger
from .base import MarkerFinder, ToolParser, repeated
from .jsonscan import Step

PYTHON_TAG = "<|python_tag|>"


class Llama3JsonParser(ToolParser):
    name = "llama3_json"
    template_markers = (PYTHON_TAG, "Environment: ipython")
    args_key = "parameters"
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = (
        LazyTrigger("{", at_start=True),
        LazyTrigger("{", after=PYTHON_TAG),
    )

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        return "start: " + repeated("lzcall", '";" lz_ws', max_calls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "start"  # start | text | call | between
        self._tag = MarkerFinder((PYTHON_TAG,))
        self._region = ""

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "start" and ch.isspace():
            self._content(ch)
            return
        if state in ("start", "between") and ch == "{":
            self._open(ch)
            return
        if state == "between":
            if ch.isspace() or ch == ";":
                return
            self._state = "text"
        if state == "call":
            self._region += ch
            step = self._read_call(ch)
            if step is Step.DONE:
                self._state = "between"
            elif step is Step.ERROR:
                self._fail()
            return
        if state == "start":
            self._state = "text"
        released, marker = self._tag.push(ch)
        self._content(released)
        if marker:
            self._markup_begins()
            self._state = "between"

    def _open(self, ch: str) -> None:
        self._begin_call()
        self._state, self._region = "call", ""
        self._region += ch
        self._read_call(ch)

    def _fail(self) -> None:
        committed = self._committed
        self._end_call()
        self._state = "text"
        if not committed:
            self._skip_ws = False
            self._content(self._region)

    def _end(self) -> None:
        if self._state == "call" and not self._committed:
            self._content(self._region)
        self._content(self._tag.flush())
