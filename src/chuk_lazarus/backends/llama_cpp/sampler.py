"""One llama.cpp sampler chain per sequence, built from the engine's `SamplingParams`, and its grammar.

The grammar is kept out of the chain and checked after sampling, as llama.cpp's own `common_sampler`
does: the token the chain picks freely is tested against the grammar alone (one candidate), and only
when the grammar rejects it is the whole vocabulary masked and the token picked again. Masking the
whole vocabulary on every step costs the grammar a walk over every token's text; most steps the
model's own choice is allowed.
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Callable
from typing import Any

import llama_cpp as C
import numpy as np

from ...core.errors import InvalidRequest
from ...core.grammar import gbnf_literal
from ...core.types import LazyTrigger, SamplingParams
from ..triggers import Trigger, TriggerWatch

log = logging.getLogger(__name__)

# llama.cpp's "pick a random seed" value.
_RANDOM_SEED = 0xFFFFFFFF
# How far back presence/frequency/repeat penalties look (llama.cpp's default).
_PENALTY_LAST_N = 64


# The layout of llama.cpp's `llama_token_data` (id, logit, p), for filling candidates with numpy.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class SequenceSampler:
    """Owns a `llama_sampler` chain and grammar; `sample` also accepts the token (advancing both)."""

    def __init__(
        self,
        vocab: C.llama_vocab_p,
        n_vocab: int,
        params: SamplingParams,
        grammar: str | None,
        grammar_triggers: tuple[LazyTrigger, ...] = (),
        piece: Callable[[int], bytes] = lambda _token: b"",
    ):
        self.handle = _chain(n_vocab, params)
        self.vocab = vocab
        self.n_vocab = n_vocab
        self.piece = piece
        self.grammar: C.llama_sampler_p | None = None  # the grammar in force, outside the chain
        self.lazy_grammar: str | None = None  # a lazy grammar not yet started
        self.watch: TriggerWatch | None = None
        self.candidates: _Candidates | None = None
        # One candidate, reused: the grammar is asked about a single token on every constrained step.
        self.probe = (C.llama_token_data * 1)()
        self.probe_array = C.llama_token_data_array(self.probe, 1, -1, False)

        if grammar:
            # Compiled now even when lazy, so a grammar llama.cpp cannot parse fails the request at once.
            grammar_sampler = C.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not grammar_sampler:
                self.close()
                raise InvalidRequest("the output constraint could not be compiled to a grammar")
            if grammar_triggers:
                # llama.cpp's own lazy grammar replays the trigger text into the grammar unchecked and
                # aborts the process if the grammar rejects it; we watch for the trigger ourselves.
                C.llama_sampler_free(grammar_sampler)
                self.lazy_grammar = grammar
                self.watch = TriggerWatch(grammar_triggers)
            else:
                self._use_grammar(grammar_sampler)

    def sample(self, ctx: C.llama_context_p, batch_index: int) -> int:
        if self.grammar is None:
            token = int(C.llama_sampler_sample(self.handle, ctx, batch_index))
            if self.watch is not None:
                trigger = self.watch.feed(token, self.piece(token))
                if trigger is not None:
                    self._start_grammar(trigger)
            return token
        assert self.candidates is not None
        logits = C.llama_get_logits_ith(ctx, batch_index)
        token = self.candidates.pick(logits, self.handle)
        if not self._allows(self.grammar, token):
            token = self.candidates.pick(logits, self.handle, first=self.grammar)
            if not self._allows(self.grammar, token):
                # Nothing in the vocabulary continues the grammar (it cannot happen with a grammar
                # over text): accepting would throw through ctypes and abort, so the grammar goes.
                log.error("grammar allows no token; the rest of this output is unconstrained")
                self._drop_grammar()
                C.llama_sampler_accept(self.handle, token)
                return token
        C.llama_sampler_accept(self.grammar, token)
        C.llama_sampler_accept(self.handle, token)
        return token

    def _allows(self, grammar_sampler: C.llama_sampler_p, token: int) -> bool:
        """Whether the grammar, in its current state, accepts `token` next (it masks a one-token list)."""
        self.probe[0] = C.llama_token_data(token, 0.0, 0.0)  # id, logit, p
        self.probe_array.size, self.probe_array.selected, self.probe_array.sorted = 1, -1, False
        C.llama_sampler_apply(grammar_sampler, ctypes.byref(self.probe_array))
        return math.isfinite(self.probe[0].logit)

    def _use_grammar(self, grammar_sampler: C.llama_sampler_p) -> None:
        self.grammar = grammar_sampler
        self.candidates = _Candidates(self.n_vocab)

    def _drop_grammar(self) -> None:
        if self.grammar is not None:
            C.llama_sampler_free(self.grammar)
        self.grammar = None
        self.candidates = None

    def _start_grammar(self, trigger: Trigger) -> None:
        """Start the lazy grammar, already past the trigger's tokens — or, if it rejects them, leave
        the output unconstrained (the tool parser reads it as it is)."""
        assert self.lazy_grammar is not None
        self.watch = None
        grammar, root = self.lazy_grammar, b"root"
        if trigger.lead:
            # The first token starts before the trigger ("```json\n{" …): the grammar accepts whole
            # tokens only, so it is given a root that begins with that token's leading text.
            grammar += f"\nlz-lazy-root ::= {gbnf_literal(trigger.lead)} root\n"
            root = b"lz-lazy-root"
        grammar_sampler = C.llama_sampler_init_grammar(self.vocab, grammar.encode(), root)
        if not grammar_sampler:
            log.warning("lazy grammar could not start at %r", trigger.text[:80])
            return
        for token in trigger.tokens:
            if not self._allows(grammar_sampler, token):
                log.warning(
                    "lazy grammar rejected its trigger text %r; output left unconstrained", trigger.text[:80]
                )
                C.llama_sampler_free(grammar_sampler)
                return
            C.llama_sampler_accept(grammar_sampler, token)
        self._use_grammar(grammar_sampler)

    def close(self) -> None:
        self._drop_grammar()
        if self.handle:
            C.llama_sampler_free(self.handle)
            self.handle = ctypes.c_void_p(0)


def _chain(n_vocab: int, params: SamplingParams) -> Any:  # a llama_sampler_p, freed in close()
    """llama.cpp's sampler chain for `params`: logit bias, penalties, then greedy or the random path."""
    chain_params = C.llama_sampler_chain_default_params()
    chain_params.no_perf = True
    handle = C.llama_sampler_chain_init(chain_params)

    def add(sampler: C.llama_sampler_p) -> None:
        C.llama_sampler_chain_add(handle, sampler)

    if params.logit_bias:
        # Built through the constructors: ctypes converts the ints, while the stubs type the fields
        # as c_int32 and would reject a plain assignment.
        biases = (C.llama_logit_bias * len(params.logit_bias))(
            *(C.llama_logit_bias(token, bias) for token, bias in params.logit_bias.items())
        )
        add(C.llama_sampler_init_logit_bias(n_vocab, len(params.logit_bias), biases))
    if params.penalized:
        add(
            C.llama_sampler_init_penalties(
                n_vocab,
                _PENALTY_LAST_N,
                params.repeat_penalty,
                params.frequency_penalty,
                params.presence_penalty,
            )
        )
    if params.greedy:
        add(C.llama_sampler_init_greedy())
    else:
        if params.top_k > 0:
            add(C.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(C.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            add(C.llama_sampler_init_min_p(params.min_p, 1))
        add(C.llama_sampler_init_temp(params.temperature))
        seed = _RANDOM_SEED if params.seed is None else params.seed & 0xFFFFFFFF
        add(C.llama_sampler_init_dist(seed))
    return handle


class _Candidates:
    """A reusable `llama_token_data_array` over the whole vocabulary, filled from a row of logits."""

    def __init__(self, n_vocab: int) -> None:
        assert _TOKEN_DATA.itemsize == ctypes.sizeof(C.llama_token_data)
        self.n_vocab = n_vocab
        self.ids = np.arange(n_vocab, dtype=np.int32)
        self.data = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self.array = C.llama_token_data_array(
            self.data.ctypes.data_as(C.llama_token_data_p), n_vocab, -1, False
        )

    def pick(
        self,
        logits: ctypes._Pointer[ctypes.c_float],
        chain: C.llama_sampler_p,
        first: C.llama_sampler_p | None = None,
    ) -> int:
        """The token `chain` selects from these logits (masked by `first` when given); nothing accepted."""
        row = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        # Samplers sort and shrink the array in place: every pick starts from the full, unsorted row.
        self.data["id"] = self.ids
        self.data["logit"] = row
        self.data["p"] = 0.0
        self.array.size = self.n_vocab  # (samplers rearrange `data`, but never repoint it)
        self.array.selected = -1
        self.array.sorted = False
        if first is not None:
            C.llama_sampler_apply(first, ctypes.byref(self.array))
        C.llama_sampler_apply(chain, ctypes.byref(self.array))
        return int(self.array.data[self.array.selected].id)
