"""One llama.cpp sampler chain per sequence, built from the engine's `SamplingParams`, and its constraint.

The constraint (llguidance, see backends/guidance.py) is kept out of the chain and checked after
sampling, as llama.cpp's own `common_sampler` does with its grammar: the token the chain picks freely is
tested against the constraint alone (one token), and only when it is rejected is the whole vocabulary
masked and the token picked again. For greedy decoding that is exactly the masked argmax; for a random
draw it is exactly the masked distribution (a rejected draw is redrawn from the allowed tokens). Most
steps the model's own choice is allowed, and no mask is computed.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp as C
import numpy as np

from ...core.types import SamplingParams
from ..guidance import Guide

# llama.cpp's "pick a random seed" value.
_RANDOM_SEED = 0xFFFFFFFF
# How far back presence/frequency/repeat penalties look (llama.cpp's default).
_PENALTY_LAST_N = 64


# The layout of llama.cpp's `llama_token_data` (id, logit, p), for filling candidates with numpy.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class SequenceSampler:
    """Owns a `llama_sampler` chain and the sequence's constraint; `sample` also accepts the token."""

    def __init__(self, n_vocab: int, params: SamplingParams, guide: Guide | None = None):
        self.handle = _chain(n_vocab, params)
        self.n_vocab = n_vocab
        self.guide = guide
        self.candidates = _Candidates(n_vocab) if guide is not None else None

    def sample(self, ctx: C.llama_context_p, batch_index: int) -> int:
        guide = self.guide
        if guide is None or not guide.active:
            token = int(C.llama_sampler_sample(self.handle, ctx, batch_index))  # (accepts it too)
            if guide is not None:
                guide.accept(token)  # a lazy constraint's watch for its trigger
            return token
        return self._pick(C.llama_get_logits_ith(ctx, batch_index))

    def sample_row(self, row: np.ndarray) -> int:
        """`sample` from a row of logits kept from an earlier decode (float32, the vocabulary): the
        same chain and constraint, the way `llama_sampler_sample` applies them to a fresh row."""
        return self._pick(row.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))

    def _pick(self, logits: ctypes._Pointer[ctypes.c_float]) -> int:
        """Sample from `logits` under the constraint, and accept the token into both."""
        guide = self.guide
        if self.candidates is None:
            self.candidates = _Candidates(self.n_vocab)
        token = self.candidates.pick(logits, self.handle)
        if guide is None or not guide.active:
            if guide is not None:
                guide.accept(token)
            C.llama_sampler_accept(self.handle, token)
            return token
        if not guide.allows(token):
            allowed = guide.allowed()
            if allowed.any():
                token = self.candidates.pick(logits, self.handle, allowed)
            else:
                guide.dead_end()  # cannot happen with a grammar over text; never mask everything
        guide.accept(token)
        C.llama_sampler_accept(self.handle, token)
        return token

    def forced(self) -> list[int]:
        """The tokens the constraint forces next (accepted into it and the chain): fast-forward."""
        if self.guide is None:
            return []
        tokens = self.guide.forced()
        for token in tokens:  # penalties count them as output
            C.llama_sampler_accept(self.handle, token)
        return tokens

    def close(self) -> None:
        self.guide = None
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
        allowed: np.ndarray | None = None,
    ) -> int:
        """The token `chain` selects from these logits (only `allowed` ones, when given); nothing accepted."""
        row = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        # Samplers sort and shrink the array in place: every pick starts from the full, unsorted row.
        self.data["id"] = self.ids
        self.data["logit"] = row
        self.data["p"] = 0.0
        self.array.size = self.n_vocab  # (samplers rearrange `data`, but never repoint it)
        self.array.selected = -1
        self.array.sorted = False
        if allowed is not None:
            self.data["logit"][~allowed] = -np.inf
        C.llama_sampler_apply(chain, ctypes.byref(self.array))
        return int(self.array.data[self.array.selected].id)
