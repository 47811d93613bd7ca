"""Hermes / Qwen: `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`, repeated, after any text.

Also takes a JSON list inside one block (`<tool_call>[{...}, {...}]</tool_call>`), which SmolLM2's
instruct data uses.
"""

from __future__ import annotations

from typing import ClassVar

from ..core.types import LazyTrigger
from .base import MarkerFinder, ToolParser, repeated
from .jsonscan import Step

OPEN, CLOSE = "<tool_call>", "</tool_call>"


class HermesParser(ToolParser):
    name = "hermes"
    template_markers = (OPEN,)
    lazy_triggers: ClassVar[tuple[LazyTrigger, ...]] = (LazyTrigger(OPEN),)
    # The block's markup; subclasses for formats of the same shape (`granite.py`) change these.
    open_tag: ClassVar[str] = OPEN
    close_tag: ClassVar[str] = CLOSE
    opens_list: ClassVar[bool] = False  # the open tag includes the list's `[` (Phi-4-mini's `functools[`)
    close_optional: ClassVar[bool] = False  # the format may end a block without its close tag

    @classmethod
    def grammar_root(cls, max_calls: int | None) -> str | None:
        block = f'"{OPEN}" lz_ws lzcall lz_ws "{CLOSE}"'
        return f"start: {repeated('lz_block', 'lz_ws', max_calls)}\nlz_block: {block}"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "text"
        # With an optional close tag, one met in the text is markup to drop, not content.
        self._text = MarkerFinder((self.open_tag, self.close_tag) if self.close_optional else (self.open_tag,))
        self._close = MarkerFinder((self.close_tag, self.open_tag))
        self._region = ""  # the block's text so far, given back as content if it is not a call
        self._in_list = False
        self._region_calls = 0

    def _step(self, ch: str) -> None:
        state = self._state
        if state == "text":
            released, marker = self._text.push(ch)
            self._content(released)
            if marker == self.open_tag:
                self._open_block()
            elif marker:
                self._markup_begins()
            return
        if state == "close":
            _, marker = self._close.push(ch)  # stray text between a call and its close tag is dropped
            if marker == self.close_tag:
                self._state = "text"
            elif marker == self.open_tag:
                self._open_block()
            return
        self._region += ch
        if state == "block_start":
            if ch.isspace():
                return
            if ch == "[" and not self._in_list:
                self._in_list = True
                return
            self._begin_call()
            self._state = "call"
            self._call_char(ch)
        elif state == "call":
            self._call_char(ch)
        elif state == "list_next":
            if ch.isspace():
                return
            if ch == ",":
                self._state = "block_start"
            elif ch == "]":
                self._state = self._after_block()
            else:
                self._fail()

    def _open_block(self) -> None:
        held = self._ws  # the spacing before the tag: given back with it if the block is not a call
        self._markup_begins()
        self._state, self._region, self._region_calls = "block_start", held + self.open_tag, 0
        self._in_list = self.opens_list

    def _call_char(self, ch: str) -> None:
        step = self._read_call(ch)
        if step is Step.ERROR:
            self._fail()
        elif step is Step.DONE:
            self._region_calls += 1
            self._state = "list_next" if self._in_list else self._after_block()

    def _after_block(self) -> str:
        return "text" if self.close_optional else "close"

    def _fail(self) -> None:
        if self._committed or self._region_calls:
            # Part of this block already went out as a call; the rest cannot be content.
            self._end_call()
            self._state = self._after_block()
            return
        self._reader = None
        self._state = "text"
        self._content(self._region)

    def _end(self) -> None:
        if self._state in ("block_start", "call", "list_next") and not (self._committed or self._region_calls):
            self._content(self._region)
        self._content(self._text.flush())
        self._state = "text"
