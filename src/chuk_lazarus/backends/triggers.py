"""Watching generated text for a lazy grammar's trigger, the same way in every backend.

A lazy grammar (tool calls under tool_choice=auto) leaves the model free until the text so far matches
one of the trigger patterns; from then on the grammar constrains it, starting with the text from the
pattern's first group. The semantics are llama.cpp's, with one difference: a pattern must match the
whole text (`re.fullmatch`), which is how the tool formats write theirs (`\\s*(\\{...)[\\s\\S]*` means
"the output starts with", `[\\s\\S]*?(<tool_call>)[\\s\\S]*` means "anywhere") — llama.cpp searches
anywhere unless a pattern is wrapped in `^…$`.

The backend then feeds the grammar the captured text itself, checking it first: a grammar that rejects
its own trigger text must never reach llama.cpp's accept, which throws a C++ exception that ctypes
cannot catch (the whole server would abort).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Trigger:
    """Where a trigger fired: the grammar's text from that point, and the tokens that carry it."""

    text: str  # from the trigger's start to the end of the output so far
    tokens: tuple[int, ...]  # every token that overlaps `text`, in order
    lead: str  # the part of tokens[0] before `text` (a token may straddle the start)


class TriggerWatch:
    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.patterns = [re.compile(p) for p in patterns]
        self.output = bytearray()
        self.starts: list[tuple[int, int]] = []  # (token, byte offset where its piece starts)
        self.fired = False

    def feed(self, token: int, piece: bytes) -> Trigger | None:
        """Add one generated token; the trigger, the first time the text matches a pattern."""
        if self.fired:
            return None
        self.starts.append((token, len(self.output)))
        self.output += piece
        # A token can end inside a multi-byte character; matching waits for the rest of it.
        text = self.output.decode("utf-8", errors="ignore")
        for pattern in self.patterns:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            start_char = match.start(1) if pattern.groups else match.start()
            start = len(text[:start_char].encode("utf-8"))
            ends = [offset for _, offset in self.starts[1:]] + [len(self.output)]
            first = next((i for i, end in enumerate(ends) if end > start), len(ends))
            lead_start = self.starts[first][1] if first < len(ends) else start
            lead = bytes(self.output[lead_start:start]).decode("utf-8", errors="replace")
            tokens = tuple(token for token, _ in self.starts[first:])
            self.fired = True
            return Trigger(text=text[start_char:], tokens=tokens, lead=lead)
        return None
