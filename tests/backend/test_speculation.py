"""Speculative decoding by prompt lookup, on the real embedded model: the output is the sampler's own.

Q4_1, as in tests/conftest.py `exact_args`: its kernels give the same floats for a token whether it
is decoded alone or inside a drafted run, so "the same output with drafting on and off" can be
asserted token for token. (The 16-bit model's one-row and many-row kernels differ around 1e-3 in
logprob, so there a near-tie may fall the other way; no more than with batching itself.)
"""

from __future__ import annotations

import asyncio

import pytest

from chuk_lazarus.core.types import ChatMessage, GenerationRequest, GenerationResult, SamplingParams
from chuk_lazarus.engine import ModelEngine

PASSAGE = (
    "The old lighthouse stood at the edge of the cliff for over two hundred years. Its keeper, a quiet "
    "man named Elias, climbed the spiral stairs every evening to light the lamp. Ships passing in the "
    "night relied on its beam to avoid the rocks below."
)
PROMPTS = (
    f"Repeat this passage exactly:\n\n{PASSAGE}",
    f"Rewrite this passage in the first person:\n\n{PASSAGE}",
    "List the numbers from 1 to 40, separated by commas.",
    "Write a short story about a dragon.",
)


def request(prompt: str, *, max_tokens: int = 80, **sampling: object) -> GenerationRequest:
    params = SamplingParams(**sampling) if sampling else SamplingParams(temperature=0.0)  # type: ignore[arg-type]
    return GenerationRequest(
        messages=(ChatMessage("user", prompt),), max_tokens=max_tokens, sampling=params, logprobs=0
    )


async def outputs(draft_max: int, requests: list[GenerationRequest]) -> tuple[list[GenerationResult], int]:
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=2, draft_max=draft_max)
    try:
        results = [await engine.agenerate(r) for r in requests]
        return results, engine.backend.stepper.draft_accepted  # type: ignore[attr-defined]
    finally:
        await engine.aclose()


def same(a: GenerationResult, b: GenerationResult, *, logprob_tolerance: float = 1e-6) -> None:
    assert a.text == b.text
    assert [x.token for x in a.logprobs] == [y.token for y in b.logprobs]
    assert [x.logprob for x in a.logprobs] == pytest.approx([y.logprob for y in b.logprobs], abs=logprob_tolerance)
    assert a.finish.reason == b.finish.reason
    assert a.finish.usage.completion_tokens == b.finish.usage.completion_tokens


async def test_greedy_output_is_identical_with_drafting_on_and_off() -> None:
    requests = [request(p) for p in PROMPTS]
    plain, none_accepted = await outputs(0, requests)
    drafted, accepted = await outputs(8, requests)
    assert none_accepted == 0
    assert accepted > 60  # the copy prompts really were drafted, and drafts held
    for a, b in zip(plain, drafted):
        same(a, b)


async def test_seeded_sampling_is_unchanged_by_drafting() -> None:
    # Each emitted token is drawn by the same chain from the same logits, one random draw per token,
    # drafted or not: the same seed gives the same text.
    requests = [request(p, temperature=0.8, top_p=0.95, seed=1234) for p in PROMPTS[:3]]
    plain, _ = await outputs(0, requests)
    drafted, accepted = await outputs(8, requests)
    assert accepted > 0
    for a, b in zip(plain, drafted):
        same(a, b)


async def test_a_draft_never_runs_past_max_tokens_or_a_stop_string() -> None:
    limits = [1, 2, 5, 17]
    requests = [request(PROMPTS[0], max_tokens=n) for n in limits]
    stop = GenerationRequest(
        messages=(ChatMessage("user", PROMPTS[0]),), max_tokens=80, sampling=SamplingParams(temperature=0.0),
        stop=("Elias",),
    )
    plain, _ = await outputs(0, [*requests, stop])
    drafted, _ = await outputs(8, [*requests, stop])
    for n, a, b in zip(limits, plain, drafted):
        same(a, b)
        assert b.finish.usage.completion_tokens == n and b.finish.reason == "length"
    assert drafted[-1].text == plain[-1].text and "Elias" not in drafted[-1].text
    assert drafted[-1].finish.reason == "stop"


async def test_concurrent_drafted_sequences_each_get_their_own_output() -> None:
    # Four sequences decode together: each drafts from its own text only, within the step's budget.
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=4, threads=2, draft_max=8)
    try:
        together = await asyncio.gather(*(engine.agenerate(request(p)) for p in PROMPTS))
        alone = [await engine.agenerate(request(p)) for p in PROMPTS]
    finally:
        await engine.aclose()
    # Together, a sequence's rows can share a step with other prompts' prefill chunks: a wide batch,
    # which llama.cpp multiplies by other kernels even for Q4_1, so logprobs move (measured up to 0.14
    # on CI's 2-core machine, typically under 0.02) while the tokens, the output, stay each sequence's
    # own. What the logprob check guards is the row each comes from: another sequence's row, or a
    # drafted row read past a rejection, is off by whole nats at most positions, not by kernel noise.
    for a, b in zip(alone, together):
        assert a.text == b.text
        assert [x.token for x in a.logprobs] == [y.token for y in b.logprobs]
        gaps = sorted(abs(x.logprob - y.logprob) for x, y in zip(a.logprobs, b.logprobs))
        assert gaps[len(gaps) // 2] < 0.02 and gaps[-1] < 0.5, gaps[-5:]
        assert a.finish.reason == b.finish.reason


@pytest.mark.parametrize("batch_size", [2, 12])
async def test_a_small_batch_still_serves_drafting_or_not(batch_size: int) -> None:
    # The decode cost is timed inside the batch: at 12 tokens there is room for a short context and
    # runs of 1, 2 and 4 (drafting on); at 2 there is not (drafting off). Either way the worker serves.
    plain, _ = await outputs(0, [request(PROMPTS[0], max_tokens=24)])
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=2, draft_max=8, batch_size=batch_size)
    try:
        result = await asyncio.wait_for(engine.agenerate(request(PROMPTS[0], max_tokens=24)), timeout=120)
        stepper = engine.backend.stepper  # type: ignore[attr-defined]
        assert (stepper.step_cost is None) == (batch_size == 2)
    finally:
        await engine.aclose()
    # The prompt prefills in chunks of 2 or 12 here, against 512 for the reference: other kernels,
    # so logprobs move by a few hundredths (measured up to 0.022); the tokens do not.
    same(plain[0], result, logprob_tolerance=0.1)
