"""Where a sequence's output stands relative to its reasoning, for a constraint that waits for it.

A `ReasoningGate` (core/grammar.py) says the constraint applies after the model's reasoning. The
`GateWatch` reads each generated token once and says whether the output is still before the reasoning
(it may yet open it), inside it, or past its close marker; it counts the tokens inside, so a thinking
budget can close the reasoning after N of them. Markers are matched on bytes (they are ASCII markup),
or by token id when a marker is one special token (whose piece may be empty: control tokens add no
text). The splitter that turns the same text into reasoning and content (tools/reasoning.py) follows
the same rules: the open marker only at the start, after whitespace; the reasoning ends at the first
close marker.
"""

from __future__ import annotations

from ..core.grammar import Marker, ReasoningGate


class GateWatch:
    def __init__(self, gate: ReasoningGate) -> None:
        self.gate = gate
        self.state = "inside" if gate.opened else "before"  # before | inside | done
        self.tokens = 0  # tokens generated inside the reasoning so far
        self._open = gate.open.text.encode()
        self._close = gate.close.text.encode()
        self._seen = b""  # before: the output so far; inside: a tail that may begin the close marker
        # The bytes after the close marker in the token that completed it (a text marker can end
        # inside a token: `></` of `</think></…`): the first of the answer, for what starts there.
        self.after = b""

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def over_budget(self) -> bool:
        """Inside the reasoning with its budget spent: the close marker must come next."""
        budget = self.gate.budget
        return self.state == "inside" and budget is not None and self.tokens >= budget

    def feed(self, token: int, piece: bytes) -> None:
        if self.state == "before":
            self._before(token, piece)
        elif self.state == "inside":
            self.tokens += 1
            self._inside(token, piece)

    def _before(self, token: int, piece: bytes) -> None:
        if _is(self.gate.open, token):
            self.state, self._seen = "inside", b""
            return
        self._seen += piece
        head = self._seen.lstrip()
        if not head:
            return
        if head.startswith(self._open):
            rest, self._seen = head[len(self._open) :], b""
            self.state = "inside"
            self._inside(token, rest)  # the open marker's token may carry reasoning (or its end) too
        elif not self._open.startswith(head):
            self.state = "done"  # the output answers without reasoning first

    def _inside(self, token: int, piece: bytes) -> None:
        if _is(self.gate.close, token):
            self.state = "done"
            return
        if not piece:
            return
        seen = self._seen + piece
        if self.gate.close.token is None and self._close in seen:
            self.state = "done"
            self.after = seen[seen.index(self._close) + len(self._close) :]
            return
        self._seen = seen[-(len(self._close) - 1) :] if len(self._close) > 1 else b""


def _is(marker: Marker, token: int) -> bool:
    return marker.token is not None and token == marker.token
