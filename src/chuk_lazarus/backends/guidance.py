"""Output constraints on every backend: llguidance compiles a `Constraint` and masks tokens with it.

`ConstraintCompiler` (one per model) turns a constraint into an `LLMatcher` once — JSON schemas are
compiled by llguidance itself, so each keyword it implements is enforced and each it does not is a 400
naming the keyword and where it sits — and caches it by grammar text, so an agent repeating its tools
pays the compile once. Compiling happens in `check` (the engine calls it off the event loop, while it
plans the request); the worker thread only copies the compiled matcher.

`Guide` is one sequence's constraint: the mask for the next token, accepting tokens, the tokens the
constraint forces next (fast-forward), a lazy constraint's wait for its trigger, and a constraint's
wait for the model's reasoning to end (`Constraint.gate`): the guards below never touch reasoning text,
a lazy trigger is only watched for after it, and a thinking budget closes it.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import llguidance
import numpy as np
from llguidance.gbnf_to_lark import gbnf_to_lark

from ..core.errors import InvalidRequest
from ..core.grammar import Constraint, after_reasoning
from ..core.schema import keyword_pointer
from .reasoning_gate import GateWatch
from .triggers import TriggerWatch

log = logging.getLogger(__name__)

# A token the constraint allows, chosen this many times in a row, is masked while the constraint allows
# anything else: a small model under a schema can otherwise write `100.000000…` or `aaaa…` (valid at
# every step) until max_tokens, and JSON cut off there is not valid. Every output stays in the grammar.
REPEAT_LIMIT = 12
# Likewise a run of digits longer than this (a float's 17 significant digits and then some): tokens of
# digits alone are masked while the constraint allows anything else. A small model otherwise writes
# `1.8323567893117142857142857…` or a time's fraction of a second until max_tokens.
DIGIT_LIMIT = 24
# Likewise nesting: past this depth of objects and arrays, tokens that open another one are masked
# while the constraint allows anything else. A recursive schema (a tree, a thread of replies) lets a
# small model nest until max_tokens. Nesting the schema requires is never masked (nothing else is
# allowed there), only nesting the model could leave out.
NEST_LIMIT = 8
# Compiled constraints kept per model (matchers or the error a grammar gave).
_CACHE_SIZE = 128
# llguidance's defaults bound each compile (lexer fuel) and each token's mask (step fuel, Earley items);
# verbose errors would print parser state into a 400.
_LIMITS = llguidance.LLParserLimits(verbose_errors=False)

_UNIMPLEMENTED = re.compile(r"Unimplemented keys: \[([^\]]*)\]")
_UNKNOWN_FORMAT = re.compile(r"Unknown format: (\S+)")
_NAMED_KEYWORDS = ("oneOf", "anyOf", "allOf", "minProperties", "maxProperties", "multipleOf", "pattern",
                   "format", "minItems", "maxItems", "minLength", "maxLength", "$ref", "enum", "const",
                   "additionalProperties", "prefixItems", "items", "required")  # fmt: skip
# The part of a lark compile error before the grammar excerpt llguidance appends ("   2 | a: %json…").
_EXCERPT = re.compile(r"\n\s*\d+ \|")


class ConstraintCompiler:
    """Compiles constraints against one tokenizer; thread-safe."""

    def __init__(self, tokenizer: llguidance.LLTokenizer, n_vocab: int) -> None:
        self.tokenizer = tokenizer
        self.n_vocab = n_vocab
        self._digits: np.ndarray | None = None
        self._openers: np.ndarray | None = None
        self._cache: collections.OrderedDict[tuple[str, str], llguidance.LLMatcher | InvalidRequest] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def check(self, constraint: Constraint) -> None:
        """Compile `constraint` (or find it compiled); `InvalidRequest` when it cannot be enforced."""
        self._compiled(one_grammar(constraint))

    def special_token(self, tokens: list[int]) -> int | None:
        """`tokens[0]` when it is the only one and llguidance treats it as special (it cannot be text)."""
        single = len(tokens) == 1 and 0 <= tokens[0] < self.tokenizer.vocab_size
        return tokens[0] if single and self.tokenizer.is_special_token(tokens[0]) else None

    def guide(self, constraint: Constraint, render: Callable[[int], bytes]) -> Guide:
        """A fresh sequence state for `constraint`; `render(token)` is a token's text, for lazy triggers."""
        constraint = one_grammar(constraint)
        return Guide(self._compiled(constraint).deep_copy(), self, constraint, render)

    def digit_tokens(self) -> np.ndarray:
        """For each token, whether its text is digits alone (built on first use, ~50 ms)."""
        if self._digits is None:
            size = min(self.n_vocab, self.tokenizer.vocab_size)
            digits = np.zeros(self.n_vocab, dtype=bool)
            for token in range(size):
                text = self.tokenizer.decode_bytes([token])
                digits[token] = bool(text) and text.isdigit()
            self._digits = digits
        return self._digits

    def opener_tokens(self) -> np.ndarray:
        """For each token, whether its text holds `{` or `[` (built on first use)."""
        if self._openers is None:
            openers = np.zeros(self.n_vocab, dtype=bool)
            for token in range(self.n_vocab):
                text = self.tokenizer.decode_bytes([token])
                openers[token] = b"{" in text or b"[" in text
            self._openers = openers
        return self._openers

    def _compiled(self, constraint: Constraint) -> llguidance.LLMatcher:
        key = (constraint.syntax, constraint.grammar)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
        if found is None:
            found = self._compile(constraint)  # outside the lock: it can take a while, and drops the GIL
            with self._lock:
                self._cache[key] = found
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        if isinstance(found, InvalidRequest):
            raise InvalidRequest(str(found), param=found.param)
        return found

    def _compile(self, constraint: Constraint) -> llguidance.LLMatcher | InvalidRequest:
        try:
            definition = llguidance.grammar_from(constraint.syntax, constraint.grammar)
        except Exception as exc:  # noqa: BLE001 - the GBNF converter raises whatever its parse hits
            return InvalidRequest(f"the grammar could not be compiled: {exc}", param=constraint.param)
        matcher = llguidance.LLMatcher(self.tokenizer, definition, log_level=0, limits=_LIMITS)
        if matcher.is_error():
            return explain(matcher.get_error(), constraint)
        return matcher


_LARK_HEADER = re.compile(r"\A\s*%llguidance \{\}\s*")


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _gbnf_as_lark(grammar: str) -> str:
    """The translation, once per grammar text: `one_grammar` runs at planning and again when the
    worker thread admits the sequence, and an agent repeats its grammar on every request."""
    return _LARK_HEADER.sub("", gbnf_to_lark(grammar), count=1)


def one_grammar(constraint: Constraint) -> Constraint:
    """A GBNF grammar that waits for the reasoning, made one lark grammar with the reasoning first, as
    a JSON schema is (core/grammar.py `after_reasoning`): waiting outside the grammar, the model could
    end its output inside the reasoning, before the grammar ever started (the embedded model did, on a
    reasoning template); inside it, the end of the output is allowed only where the grammar allows it.
    Converted by llguidance's own GBNF-to-lark translator; a grammar it cannot read stays GBNF, and
    compiling it reports the error."""
    gate = constraint.gate
    if constraint.syntax != "gbnf" or gate is None or gate.in_grammar or constraint.triggers:
        return constraint
    try:
        lark = _gbnf_as_lark(constraint.grammar)
        return after_reasoning(dataclasses.replace(constraint, grammar=lark, syntax="lark", gate=None), gate)
    except Exception:  # noqa: BLE001 - the translator raises whatever its parse hits
        return constraint


def explain(error: str, constraint: Constraint) -> InvalidRequest:
    """llguidance's compile error as a 400 naming the request field, the keyword and its JSON pointer."""
    detail = _EXCERPT.split(error.strip(), maxsplit=1)[0] if error.strip() else "invalid grammar"
    detail = re.sub(r"^at \d+\(\d+\): ", "", detail)
    detail = " ".join(detail.removeprefix("failed to compile JSON schema: ").split())[:300]
    keywords: list[tuple[str, Any]] = []
    if "regex parse error" in detail:
        keywords = [("pattern", None)]
    elif match := _UNIMPLEMENTED.search(detail):
        keywords = [(k.strip().strip('"'), None) for k in match.group(1).split(",") if k.strip()]
    elif match := _UNKNOWN_FORMAT.search(detail):
        keywords = [("format", match.group(1).strip('"'))]
    else:
        keywords = [(k, None) for k in _NAMED_KEYWORDS if k in detail]
    for embedded in constraint.schemas:
        for keyword, value in keywords:
            pointer = keyword_pointer(embedded.schema, keyword, value)
            if pointer is not None:
                what = f"format {value!r}" if keyword == "format" else f"keyword {keyword!r}"
                return InvalidRequest(
                    f"JSON Schema {what} at {pointer} is not supported for constrained output ({detail})",
                    param=embedded.param,
                )
    # Not a keyword we can place: the schema that fails on its own, else the constraint as a whole.
    for embedded in constraint.schemas:
        alone = llguidance.LLMatcher.grammar_from_json_schema(embedded.schema)
        if llguidance.LLMatcher.validate_grammar(alone, limits=_LIMITS):
            return InvalidRequest(f"the JSON schema cannot be enforced: {detail}", param=embedded.param)
    return InvalidRequest(f"the output constraint cannot be enforced: {detail}", param=constraint.param)


class Guide:
    """One sequence's constraint. Before a lazy constraint's trigger it only watches the text."""

    def __init__(
        self,
        matcher: llguidance.LLMatcher,
        compiler: ConstraintCompiler,
        constraint: Constraint,
        render: Callable[[int], bytes],
    ) -> None:
        self.matcher: llguidance.LLMatcher | None = matcher
        self.tokenizer = compiler.tokenizer
        self.n_vocab = compiler.n_vocab
        self.render = render
        self.watch = TriggerWatch(constraint.triggers) if constraint.triggers else None
        self.bitmask = np.zeros((self.n_vocab + 31) // 32, dtype=np.int32)
        self.last = -1  # the last token accepted under the constraint, and how many times in a row
        self.repeats = 0
        self.digits = compiler.digit_tokens()
        self.digit_run = 0  # digits at the end of the constrained output so far
        self.openers = compiler.opener_tokens()
        self.json = _JsonDepth()
        self.gate = GateWatch(constraint.gate) if constraint.gate is not None else None
        # The close marker's tokens still to write, once a thinking budget is spent: the only tokens
        # allowed until they are out (fast-forwarded when the step allows it, else sampled one by one).
        self.closing: list[int] = []

    @property
    def reasoning(self) -> bool:
        """Whether the output is still before or inside the reasoning the constraint waits for."""
        return self.gate is not None and not self.gate.done

    @property
    def active(self) -> bool:
        """Whether the constraint masks the next token (it exists and its trigger, if any, was seen)."""
        if self.closing:
            return True
        if self.reasoning:
            assert self.gate is not None
            return self.matcher is not None and self.gate.gate.in_grammar
        return self.matcher is not None and self.watch is None

    @property
    def enabled(self) -> bool:
        """Whether there is a constraint still to apply (active or waiting for its trigger)."""
        return self.matcher is not None or self.reasoning

    def allows(self, token: int) -> bool:
        """Whether the constraint accepts `token` next (one token checked, no mask computed)."""
        if self.closing:
            return token == self.closing[0]
        assert self.matcher is not None
        if self.reasoning:  # free text to the grammar: no guard applies to reasoning
            return bool(self.matcher.validate_tokens([token]) == 1)
        if token == self.last and self.repeats >= REPEAT_LIMIT:
            return False  # the full mask decides (without it, if anything else is allowed)
        if self.digit_run >= DIGIT_LIMIT and 0 <= token < self.n_vocab and self.digits[token]:
            return False
        if self._too_deep() and 0 <= token < self.n_vocab and self.openers[token]:
            return False
        return bool(self.matcher.validate_tokens([token]) == 1)

    def allowed(self) -> np.ndarray:
        """The next-token mask as `n_vocab` bools."""
        if self.closing:
            allowed = np.zeros(self.n_vocab, dtype=bool)
            allowed[self.closing[0]] = True
            return allowed
        assert self.matcher is not None
        self.matcher.unsafe_compute_mask_ptr(self.bitmask.ctypes.data, self.bitmask.nbytes)
        bits = np.unpackbits(self.bitmask.view(np.uint8), bitorder="little")
        allowed = bits[: self.n_vocab].astype(bool)
        if self.reasoning:
            return allowed
        if self.repeats >= REPEAT_LIMIT and 0 <= self.last < self.n_vocab and allowed[self.last]:
            allowed[self.last] = False
            if not allowed.any():
                allowed[self.last] = True
        if self.digit_run >= DIGIT_LIMIT:
            fewer = allowed & ~self.digits
            if fewer.any():
                allowed = fewer
        if self._too_deep():
            fewer = allowed & ~self.openers
            if fewer.any():
                allowed = fewer
        return allowed

    def _too_deep(self) -> bool:
        return self.json.depth >= NEST_LIMIT and not self.json.in_string

    def accept(self, token: int) -> None:
        """Record the chosen token: into the matcher, or (lazy, before its trigger) into the watch."""
        if self.reasoning:
            self._reason(token)
            return
        if self.closing:  # the rest of what a spent budget writes, after its close marker
            self._next_closing(token)
        if self.matcher is None:
            return
        if self.watch is not None:
            self._watch(token)
            return
        self._count(token)
        if not self.matcher.consume_token(token) or self.matcher.is_error():
            self._drop(f"the constraint failed: {self.matcher.get_error()}")

    def forced(self) -> list[int]:
        """The tokens the constraint allows as the only continuation from here, already accepted: the
        sequence appends them without sampling (fast-forward). llguidance picks them so that they are
        the tokenization the model would use, never splitting a token the model could still extend."""
        if self.closing:  # the budget is spent: the close marker, all at once
            tokens, self.closing = self.closing, []
            for token in tokens:
                self._reason(token)
            return tokens
        if not self.active or self.reasoning:
            return []
        assert self.matcher is not None
        if self.matcher.is_stopped():
            return []
        tokens = list(self.matcher.compute_ff_tokens())
        for token in tokens:
            self._count(token)
        if tokens and (not self.matcher.consume_tokens(tokens) or self.matcher.is_error()):
            self._drop(f"the constraint failed on its own forced tokens: {self.matcher.get_error()}")
            return []
        return tokens

    def _count(self, token: int) -> None:
        """Track the repeat and digit runs the guards above look at."""
        self.repeats = self.repeats + 1 if token == self.last else 1
        self.last = token
        text = self.tokenizer.decode_bytes([token]) if 0 <= token < self.n_vocab else b""
        self.json.feed(text)
        if text.isdigit():
            self.digit_run += len(text)
        elif text:
            self.digit_run = len(text) - len(text.rstrip(b"0123456789"))

    def _reason(self, token: int) -> None:
        """A token before or inside the reasoning: the gate's watch reads it, and a grammar that holds
        the reasoning too consumes it; the budget, once spent, queues the close marker."""
        assert self.gate is not None
        was_done = self.gate.done
        if self.closing:
            self._next_closing(token)
        self.gate.feed(token, self.render(token))
        matcher = self.matcher if self.gate.gate.in_grammar else None
        if matcher is not None and (not matcher.consume_token(token) or matcher.is_error()):
            self._drop(f"the constraint failed inside the reasoning: {matcher.get_error()}")
        if self.gate.done and not was_done:
            # What the budget writes after the close marker stays to be written (gpt-oss's final
            # header, `<|start|>assistant<|channel|>final<|message|>`, follows its `<|end|>`).
            if self.gate.gate.free_answer:
                self.matcher = None  # only the budget was asked for: the answer is free
            elif self.gate.after and not self.gate.gate.in_grammar:
                self._start_within(token, self.gate.after)
        elif self.gate.over_budget and not self.closing:
            self.closing = list(self.gate.gate.close_tokens)

    def _next_closing(self, token: int) -> None:
        if token != self.closing[0]:  # cannot happen: the mask allowed nothing else
            self.closing = []
        else:
            self.closing.pop(0)

    def _start_within(self, token: int, after: bytes) -> None:
        """The token that closed the reasoning also began the answer: a constraint that waited for
        the close reads that part (a lazy one's watch, or the grammar itself, fed as text)."""
        after = after.lstrip(b" \t\n")  # markup spacing after the close (`</think>\n\n`), not the answer's
        if self.matcher is None or not after:
            return
        if self.watch is not None:
            self._watch(token, after)
            return
        tokens = self.tokenizer.tokenize_str(after.decode("utf-8", "ignore"))
        if self.matcher.try_consume_tokens(tokens) != len(tokens) or self.matcher.is_error():
            self._drop(f"the constraint rejected the start of the answer {after[:80]!r}")

    def dead_end(self) -> None:
        """No token is allowed (cannot happen for a grammar over text): go on unconstrained."""
        self._drop("the constraint allows no token")

    def _watch(self, token: int, piece: bytes | None = None) -> None:
        assert self.watch is not None and self.matcher is not None
        trigger = self.watch.feed(token, self.render(token) if piece is None else piece)
        if trigger is None:
            return
        self.watch = None
        # The constraint starts at the trigger's own text, which may begin inside a token: it is fed
        # the text (tokenized its own way), not the model's tokens.
        tokens = self.tokenizer.tokenize_str(trigger.text)
        if self.matcher.try_consume_tokens(tokens) != len(tokens) or self.matcher.is_error():
            # Leave the output unconstrained rather than masking everything after a bad start (the
            # tool parser reports what it reads).
            self._drop(f"the lazy constraint rejected its trigger text {trigger.text[:80]!r}")

    def _drop(self, why: str) -> None:
        log.warning("%s; the rest of this output is unconstrained", why)
        self.matcher = None
        self.watch = None


class _JsonDepth:
    """How deep in objects and arrays the output is, and whether inside a string (an approximate
    scanner of the constrained text, for the nesting guard: the constraint itself keeps it JSON)."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False

    def feed(self, text: bytes) -> None:
        for byte in text:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:  # quote
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in (0x7B, 0x5B):  # { [
                self.depth += 1
            elif byte in (0x7D, 0x5D):  # } ]
                self.depth = max(0, self.depth - 1)
