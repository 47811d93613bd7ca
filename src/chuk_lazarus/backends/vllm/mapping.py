"""A `BackendJob` in vLLM's terms: the keyword arguments of its `SamplingParams`, and vLLM's logprobs
back as our `RawLogprob`. Pure functions over plain values: no vLLM import, so they are unit-tested in
the main environment (tests/backend/test_vllm_mapping.py).

What maps and how (vLLM's semantics where they differ from llama.cpp's, which the other backends copy):
  - temperature, top_p, top_k (0 is off in both), min_p, seed, logit_bias: one to one;
  - presence/frequency penalties: vLLM applies them over the whole output so far, llama.cpp over the
    last 64 tokens; `repeat_penalty` is vLLM's `repetition_penalty`, which also counts prompt tokens;
  - stop strings and `n` are not passed: the engine runs one job per choice and its sink applies stop
    strings (it returns False from `on_token`, and the job is aborted in vLLM);
  - logprobs: vLLM's default `raw_logprobs` mode is the model's own distribution, as ours;
  - a constraint is vLLM's structured output `grammar`: llguidance's lark (our `%json{…}` schemas
    inside) or a user's GBNF, both parsed by the same `llguidance.grammar_from` our compile check uses.
    A lazy constraint (triggers: tool calls under tool_choice=auto) has no vLLM equivalent for an
    arbitrary grammar, so it is not passed: such output is parsed, never enforced (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..base import BackendJob, RawLogprob
from ..guidance import one_grammar


class LogprobLike(Protocol):
    """vLLM's `Logprob`: the value and its rank in the distribution (1: the most likely)."""

    logprob: float
    rank: int | None


def sampling_kwargs(job: BackendJob, *, stop_token_ids: Iterable[int]) -> dict[str, Any]:
    """`vllm.SamplingParams(**kwargs)` for `job`, except `structured_outputs` (see `grammar_for`)."""
    s = job.sampling
    kwargs: dict[str, Any] = {
        "n": 1,
        "temperature": max(0.0, float(s.temperature)),
        "top_p": float(s.top_p),
        "top_k": int(s.top_k) if s.top_k > 0 else 0,
        "min_p": float(s.min_p),
        "presence_penalty": float(s.presence_penalty),
        "frequency_penalty": float(s.frequency_penalty),
        "repetition_penalty": float(s.repeat_penalty),
        "seed": None if s.seed is None else int(s.seed) & 0x7FFFFFFFFFFFFFFF,
        # vLLM needs at least one token; a prompt-only job (scoring) gets one, which the stream drops.
        "max_tokens": max(1, int(job.max_tokens)),
        # Every end-of-turn id we know ends the sequence in vLLM too (it knows the tokenizer's EOS).
        "stop_token_ids": sorted(set(stop_token_ids)),
        # Text is decoded by the engine's sink from token bytes; vLLM's detokenizer would be wasted work.
        "detokenize": False,
        "skip_special_tokens": False,
    }
    if s.logit_bias:
        kwargs["logit_bias"] = {int(k): float(v) for k, v in s.logit_bias.items()}
    if job.logprobs is not None:
        kwargs["logprobs"] = int(job.logprobs)
    if job.prompt_logprobs is not None:
        kwargs["prompt_logprobs"] = int(job.prompt_logprobs)
    return kwargs


def grammar_for(job: BackendJob) -> str | None:
    """The grammar text for vLLM's `StructuredOutputsParams(grammar=…)`, or None: no constraint, or a
    lazy one (not enforceable in vLLM; see the module docstring), or only a thinking budget (vLLM runs
    the grammar, not our budget, which needs the sampler to write the close marker).

    A constraint after a model's reasoning is one grammar with the free reasoning first (core/grammar.py
    `after_reasoning`), so vLLM holds the answer, not the reasoning, to it; a GBNF grammar is made one
    too (`one_grammar`), as the other backends compile it."""
    constraint = job.constraint
    if constraint is None or constraint.triggers:
        return None
    if constraint.gate is not None and constraint.gate.free_answer:
        return None
    return one_grammar(constraint).grammar


def raw_logprob(entry: Mapping[int, LogprobLike], token: int, top_n: int) -> RawLogprob:
    """One position of vLLM's logprobs ({token id: Logprob}, the chosen token always among them) as the
    chosen token's logprob plus the `top_n` most likely, best first."""
    chosen = entry.get(token)
    value = float(chosen.logprob) if chosen is not None else float("-inf")
    if top_n <= 0:
        return RawLogprob(value)
    ranked = sorted(
        ((lp.rank if lp.rank is not None else 1 << 30, tid, float(lp.logprob)) for tid, lp in entry.items()),
    )
    top = tuple((int(tid), lp) for rank, tid, lp in ranked if rank <= top_n)[:top_n]
    return RawLogprob(value, top)


def prompt_raw_logprobs(
    positions: Sequence[Mapping[int, LogprobLike] | None], prompt: Sequence[int], top_n: int
) -> tuple[RawLogprob, ...]:
    """vLLM's `prompt_logprobs` (None for the first token, then one entry per prompt token) as ours:
    entry i is token i + 1's, given the tokens before it."""
    out: list[RawLogprob] = []
    for index in range(1, len(prompt)):
        entry = positions[index] if index < len(positions) else None
        out.append(raw_logprob(entry or {}, prompt[index], top_n))
    return tuple(out)
