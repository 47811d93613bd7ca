"""Reasoning in a model's output: which format a template's model writes, and an incremental splitter.

Formats:
- `think_tags`: `<think>…</think>` before the answer (Qwen 3, QwQ, DeepSeek-R1 and its distills,
  SmolLM3). Some templates open `<think>` themselves at the end of the generation prompt (DeepSeek-R1,
  Qwen 3 with thinking on), so the output starts inside the reasoning: see `prompt_opens_reasoning`.
- `mistral`: `[THINK]…[/THINK]` (Magistral).
- `harmony`: gpt-oss channels, `<|channel|>analysis<|message|>…<|end|>` is reasoning and `final` is
  the answer. A call (`to=functions.NAME` in a header) is kept as content, markup and all, for the
  harmony tool parser (`tools/harmony.py`) that reads the content after this.
- `none`: everything is content.

The splitter sees one character at a time and holds back only what may still be a marker (or a
harmony header, which is short), so its deltas concatenate to the same texts however the output was
split: `split_reasoning(text)` is the fold of `feed(text) + finish()`. Like the tool parsers it
stands on `core` alone, for the engine's output pipeline to put in front of the tool parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .base import MarkerFinder

ReasoningFormat = Literal["think_tags", "mistral", "harmony", "none"]
REASONING_FORMATS: tuple[ReasoningFormat, ...] = ("think_tags", "mistral", "harmony", "none")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
MISTRAL_OPEN, MISTRAL_CLOSE = "[THINK]", "[/THINK]"
H_START, H_CHANNEL, H_MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
H_END, H_CALL, H_RETURN = "<|end|>", "<|call|>", "<|return|>"
_TAGS: dict[str, tuple[str, str]] = {
    "think_tags": (THINK_OPEN, THINK_CLOSE),
    "mistral": (MISTRAL_OPEN, MISTRAL_CLOSE),
}


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ContentDelta:
    text: str


Delta = ReasoningDelta | ContentDelta


def detect_reasoning_format(template_source: str | None) -> ReasoningFormat:
    """The reasoning format of the model whose chat template this is ("none" when it shows none)."""
    source = template_source or ""
    if H_CHANNEL in source and H_MESSAGE in source:
        return "harmony"
    if MISTRAL_OPEN in source:
        return "mistral"
    if THINK_OPEN in source or THINK_CLOSE in source:
        return "think_tags"
    return "none"


def prompt_opens_reasoning(fmt: ReasoningFormat, prompt: str) -> bool:
    """Whether the rendered prompt ends inside an open reasoning block (DeepSeek-R1's generation
    prompt ends `<think>\\n`; Qwen 3's with thinking off ends with a closed, empty one)."""
    tags = _TAGS.get(fmt)
    return tags is not None and prompt.rstrip().endswith(tags[0])


def get_format(name: str) -> ReasoningFormat:
    for fmt in REASONING_FORMATS:
        if fmt == name:
            return fmt
    raise ValueError(f"unknown reasoning format {name!r}; choose one of: {', '.join(REASONING_FORMATS)}")


class ReasoningSplitter:
    """Splits a model's output into reasoning and content deltas as it streams."""

    def __init__(self, fmt: ReasoningFormat, *, in_reasoning: bool = False) -> None:
        """`in_reasoning`: the prompt already opened the reasoning (`prompt_opens_reasoning`)."""
        self.format = fmt
        self._out: list[Delta] = []
        self._impl: _Tags | _Harmony | None = None
        if fmt in _TAGS:
            self._impl = _Tags(self, *_TAGS[fmt], in_reasoning=in_reasoning)
        elif fmt == "harmony":
            self._impl = _Harmony(self)

    @property
    def in_reasoning(self) -> bool:
        """Whether the text so far ends inside the reasoning (or may be opening it), for counting the
        tokens spent on it: a token that arrives inside it, or opens it, is a reasoning token."""
        return self._impl is not None and self._impl.in_reasoning

    def feed(self, text: str) -> list[Delta]:
        if self._impl is None:
            self._content(text)
        else:
            for ch in text:
                self._impl.step(ch)
        return self._drain()

    def finish(self) -> list[Delta]:
        if self._impl is not None:
            self._impl.end()
        return self._drain()

    def _drain(self) -> list[Delta]:
        out, self._out = self._out, []
        return out

    def _reasoning(self, text: str) -> None:
        if text:
            if self._out and isinstance(self._out[-1], ReasoningDelta):
                self._out[-1] = ReasoningDelta(self._out[-1].text + text)
            else:
                self._out.append(ReasoningDelta(text))

    def _content(self, text: str) -> None:
        if text:
            if self._out and isinstance(self._out[-1], ContentDelta):
                self._out[-1] = ContentDelta(self._out[-1].text + text)
            else:
                self._out.append(ContentDelta(text))


def split_reasoning(text: str, fmt: ReasoningFormat, *, in_reasoning: bool = False) -> tuple[str, str]:
    """Whole-text split: (reasoning, content), the fold of the streaming deltas."""
    splitter = ReasoningSplitter(fmt, in_reasoning=in_reasoning)
    return fold_deltas(splitter.feed(text) + splitter.finish())


def fold_deltas(deltas: list[Delta]) -> tuple[str, str]:
    reasoning = "".join(d.text for d in deltas if isinstance(d, ReasoningDelta))
    content = "".join(d.text for d in deltas if isinstance(d, ContentDelta))
    return reasoning, content


class _Tags:
    """`OPEN reasoning CLOSE content`, the open tag only at the start (after whitespace), or implied.

    Whitespace around the reasoning is markup spacing (`<think>\\n…\\n</think>\\n\\n`): it is dropped
    at both ends of the reasoning and before the content that follows it."""

    def __init__(self, out: ReasoningSplitter, open_tag: str, close_tag: str, *, in_reasoning: bool) -> None:
        self._o = out
        self._open = open_tag
        self._in_reasoning = in_reasoning
        self._state = "start"  # start | reasoning | after | content
        self._lead = ""
        self._close = MarkerFinder((close_tag,))
        self._ws = ""
        self._started = False  # some reasoning text has been given out

    @property
    def in_reasoning(self) -> bool:
        state = self._state
        return state == "reasoning" or (state == "start" and (self._in_reasoning or bool(self._lead.strip())))

    def step(self, ch: str) -> None:
        state = self._state
        if state == "content":
            self._o._content(ch)
        elif state == "start":
            self._lead += ch
            head = self._lead.lstrip()
            if head == self._open:
                self._state = "reasoning"
            elif not self._open.startswith(head):
                self._leave_start()
        elif state == "reasoning":
            released, marker = self._close.push(ch)
            self._reason(released)
            if marker:
                self._ws = ""
                self._state = "after"
        elif not ch.isspace():  # after: the spacing between the reasoning and the answer is dropped
            self._state = "content"
            self._o._content(ch)

    def _leave_start(self) -> None:
        lead, self._lead = self._lead, ""
        if self._in_reasoning:
            self._state = "reasoning"
            for ch in lead:
                self.step(ch)
        else:
            self._state = "content"
            self._o._content(lead)

    def _reason(self, text: str) -> None:
        for ch in text:
            if ch.isspace():
                if self._started:
                    self._ws += ch
                continue
            self._started = True
            self._o._reasoning(self._ws + ch)
            self._ws = ""

    def end(self) -> None:
        if self._state == "start" and self._lead:
            self._leave_start()
        if self._state == "reasoning":
            self._reason(self._close.flush())  # cut off while thinking: all of it was reasoning
        self._ws = ""


class _Harmony:
    """gpt-oss messages: `[<|start|>assistant]<|channel|>C[ to=R][ <|constrain|>T]<|message|>BODY END`.

    The first header has no `<|start|>assistant` (the generation prompt wrote it). Output that does not
    begin with harmony markup is plain content."""

    _HEADS = (H_START, H_CHANNEL)

    def __init__(self, out: ReasoningSplitter) -> None:
        self._o = out
        self._state = "header"  # header | body | plain
        self._header = ""
        self._header_finder = MarkerFinder((H_MESSAGE,))
        self._body_finder = MarkerFinder((H_END, H_CALL, H_RETURN))
        self._route = "content"  # content | reasoning | call
        self._raw_header = ""
        self._first = True

    @property
    def in_reasoning(self) -> bool:
        return self._state == "body" and self._route == "reasoning"

    def step(self, ch: str) -> None:
        if self._state == "plain":
            self._o._content(ch)
        elif self._state == "header":
            released, marker = self._header_finder.push(ch)
            self._header += released
            if marker:
                self._open_body()
            elif not self._looks_like_header():
                self._state = "plain"
                header, self._header = self._header + self._header_finder.flush(), ""
                self._o._content(header)
        else:
            released, marker = self._body_finder.push(ch)
            self._body(released)
            if marker:
                if self._route == "call":
                    self._o._content(marker)
                self._state, self._header, self._first = "header", "", False

    def _looks_like_header(self) -> bool:
        head = self._header.lstrip()  # spacing between messages is not content
        if not head:
            return True
        return any(head.startswith(h) or h.startswith(head) for h in self._HEADS)

    def _open_body(self) -> None:
        header = self._header
        channel, recipient = parse_harmony_header(header)
        if recipient is not None and recipient.startswith("functions."):
            self._route = "call"
            self._o._content(header.lstrip() + H_MESSAGE)
        elif channel == "analysis":
            self._route = "reasoning"
        else:
            self._route = "content"  # final, or commentary meant for the user (a preamble)
        self._state = "body"

    def _body(self, text: str) -> None:
        if self._route == "reasoning":
            self._o._reasoning(text)
        else:
            self._o._content(text)

    def end(self) -> None:
        if self._state == "body":
            self._body(self._body_finder.flush())
        elif self._state == "header":
            rest = self._header + self._header_finder.flush()
            if self._first and not rest.lstrip().startswith(self._HEADS):
                self._o._content(rest)  # short text that only looked like it might be a header
        self._state = "plain"


def parse_harmony_header(header: str) -> tuple[str, str | None]:
    """(channel, recipient) of a harmony header, e.g. `<|start|>assistant to=functions.f<|channel|>
    commentary json` or `<|channel|>commentary to=functions.f <|constrain|>json`."""
    text = header.replace(H_START, " ").replace("<|constrain|>", " ")
    channel = ""
    recipient: str | None = None
    if H_CHANNEL in text:
        before, _, after = text.partition(H_CHANNEL)
        words = after.split()
        channel = words[0] if words else ""
        rest = before.split() + words[1:]
    else:
        rest = text.split()
    for word in rest:
        if word.startswith("to="):
            recipient = word[3:]
    return channel, recipient
