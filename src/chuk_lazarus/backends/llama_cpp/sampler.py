"""One llama.cpp sampler chain per sequence, built from the engine's `SamplingParams`."""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Callable

import llama_cpp as C

from ...engine.constraints import gbnf_literal
from ...engine.errors import InvalidRequest
from ...engine.types import SamplingParams
from ..triggers import Trigger, TriggerWatch

log = logging.getLogger(__name__)

# llama.cpp's "pick a random seed" value.
_RANDOM_SEED = 0xFFFFFFFF
# How far back presence/frequency/repeat penalties look (llama.cpp's default).
_PENALTY_LAST_N = 64


class SequenceSampler:
    """Owns a `llama_sampler` chain; `sample` also accepts the token (advancing grammar and penalties)."""

    def __init__(
        self,
        vocab: C.llama_vocab_p,
        n_vocab: int,
        params: SamplingParams,
        grammar: str | None,
        grammar_triggers: tuple[str, ...] = (),
        piece: Callable[[int], bytes] = lambda _token: b"",
    ):
        chain_params = C.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self.handle = C.llama_sampler_chain_init(chain_params)

        def add(sampler: C.llama_sampler_p) -> None:
            C.llama_sampler_chain_add(self.handle, sampler)

        self.vocab = vocab
        self.piece = piece
        self.lazy_grammar: str | None = None  # a lazy grammar not yet started
        self.watch: TriggerWatch | None = None

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
                # First in the chain: it removes every token the grammar does not allow, so nothing
                # after it (including greedy) can pick an invalid one.
                add(grammar_sampler)
        if params.logit_bias:
            # Built through the constructors: ctypes converts the ints, while the stubs type the fields
            # as c_int32 and would reject a plain assignment.
            biases = (C.llama_logit_bias * len(params.logit_bias))(
                *(C.llama_logit_bias(token, bias) for token, bias in params.logit_bias.items())
            )
            add(C.llama_sampler_init_logit_bias(n_vocab, len(params.logit_bias), biases))
        if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
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

    def sample(self, ctx: C.llama_context_p, batch_index: int) -> int:
        token = int(C.llama_sampler_sample(self.handle, ctx, batch_index))
        if self.watch is not None:
            trigger = self.watch.feed(token, self.piece(token))
            if trigger is not None:
                self._start_grammar(trigger)
        return token

    def _start_grammar(self, trigger: Trigger) -> None:
        """Put the lazy grammar first in the chain, already past the trigger's tokens — or, if it
        rejects them, leave the output unconstrained (the tool parser reads it as it is)."""
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
            if not _allows(grammar_sampler, token):
                log.warning(
                    "lazy grammar rejected its trigger text %r; output left unconstrained", trigger.text[:80]
                )
                C.llama_sampler_free(grammar_sampler)
                return
            C.llama_sampler_accept(grammar_sampler, token)
        # The chain can only append: take the samplers out (they keep their state), then put them
        # back behind the grammar.
        rest = [
            C.llama_sampler_chain_remove(self.handle, 0) for _ in range(C.llama_sampler_chain_n(self.handle))
        ]
        C.llama_sampler_chain_add(self.handle, grammar_sampler)
        for sampler in rest:
            C.llama_sampler_chain_add(self.handle, sampler)

    def close(self) -> None:
        if self.handle:
            C.llama_sampler_free(self.handle)
            self.handle = ctypes.c_void_p(0)


def _allows(grammar_sampler: C.llama_sampler_p, token: int) -> bool:
    """Whether the grammar, in its current state, accepts `token` next (it masks a one-token list)."""
    data = (C.llama_token_data * 1)(C.llama_token_data(token, 0.0, 0.0))  # id, logit, p
    candidates = C.llama_token_data_array(data, 1, -1, False)
    C.llama_sampler_apply(grammar_sampler, ctypes.byref(candidates))
    return math.isfinite(data[0].logit)
