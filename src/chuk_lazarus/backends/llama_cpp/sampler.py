"""One llama.cpp sampler chain per sequence, built from the engine's `SamplingParams`."""

from __future__ import annotations

import ctypes

import llama_cpp as C

from ...engine.errors import InvalidRequest
from ...engine.types import SamplingParams

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
    ):
        chain_params = C.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self.handle = C.llama_sampler_chain_init(chain_params)
        add = lambda s: C.llama_sampler_chain_add(self.handle, s)  # noqa: E731

        if grammar:
            # First in the chain: it removes every token the grammar does not allow, so nothing after
            # it (including greedy) can pick an invalid one.
            if grammar_triggers:
                patterns = (ctypes.c_char_p * len(grammar_triggers))(*(p.encode() for p in grammar_triggers))
                grammar_sampler = C.llama_sampler_init_grammar_lazy_patterns(
                    vocab, grammar.encode(), b"root", patterns, len(grammar_triggers), None, 0
                )
            else:
                grammar_sampler = C.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
            if not grammar_sampler:
                self.close()
                raise InvalidRequest("the output constraint could not be compiled to a grammar")
            add(grammar_sampler)
        if params.logit_bias:
            biases = (C.llama_logit_bias * len(params.logit_bias))()
            for i, (token, bias) in enumerate(params.logit_bias.items()):
                biases[i].token = token
                biases[i].bias = bias
            add(C.llama_sampler_init_logit_bias(n_vocab, len(params.logit_bias), biases))
        if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
            add(
                C.llama_sampler_init_penalties(
                    n_vocab, _PENALTY_LAST_N, params.repeat_penalty, params.frequency_penalty, params.presence_penalty
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
        return int(C.llama_sampler_sample(self.handle, ctx, batch_index))

    def close(self) -> None:
        if self.handle:
            C.llama_sampler_free(self.handle)
            self.handle = ctypes.c_void_p(0)
