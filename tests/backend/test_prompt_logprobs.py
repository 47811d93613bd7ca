"""Prompt logprobs (`BackendJob.prompt_logprobs`) on both backends, through `ModelEngine`: prompts split
over several prefill chunks, no cached prefix reused, values that agree with a generation's logprobs
for the same tokens, and `max_tokens` 0 generating nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chuk_lazarus.core.types import GenerationRequest, GenerationResult, SamplingParams
from chuk_lazarus.engine import ModelEngine

GREEDY = SamplingParams(temperature=0.0)
PROMPT = "The quick brown fox jumps over the lazy dog. The capital of France is"
CHUNK = 7  # tokens per prefill chunk: the prompt above spans several


@pytest.fixture(scope="module", params=["llama.cpp", "transformers"])
def engine(request: pytest.FixtureRequest) -> Iterator[ModelEngine]:
    if request.param == "llama.cpp":
        loaded = asyncio.run(ModelEngine.load(None, parallel=2, threads=1, batch_size=CHUNK))
    else:
        folder = request.getfixturevalue("smollm2_hf_folder")
        loaded = asyncio.run(ModelEngine.load(str(folder), backend="transformers", parallel=2, batch_size=CHUNK))
    yield loaded
    asyncio.run(loaded.aclose())


def run(engine: ModelEngine, request: GenerationRequest) -> GenerationResult:
    return asyncio.run(engine.agenerate(request))


def score(engine: ModelEngine, tokens: list[int], top: int = 0) -> GenerationResult:
    request = GenerationRequest(
        prompt_token_ids=tuple(tokens), max_tokens=0, echo=True, prompt_logprobs=top, logprobs=top
    )
    return run(engine, request)


def test_scoring_agrees_with_generation_across_chunks(engine: ModelEngine) -> None:
    prompt = engine.backend.tokenize(PROMPT, add_special=True)
    assert len(prompt) > 2 * CHUNK
    generated = run(engine, GenerationRequest(prompt=PROMPT, max_tokens=5, sampling=GREEDY, logprobs=0))
    ids = [engine.backend.tokenize(lp.token) for lp in generated.logprobs]
    assert all(len(i) == 1 for i in ids)
    scored = score(engine, prompt + [i[0] for i in ids], top=2)
    assert scored.finish.reason == "length" and scored.finish.usage.completion_tokens == 0
    lps = scored.logprobs
    assert len(lps) == len(prompt) + len(ids)
    assert lps[0].logprob is None and lps[0].top == ()
    assert all(lp.logprob is not None and lp.logprob <= 0 and len(lp.top) == 2 for lp in lps[1:])
    for got, want in zip(lps[len(prompt):], generated.logprobs):
        assert got.token == want.token
        assert got.logprob is not None and want.logprob is not None and abs(got.logprob - want.logprob) < 0.02
    # The best alternative is at least as likely as the token itself (it is the argmax).
    assert all(lp.top[0][1] >= lp.logprob - 1e-9 for lp in lps[1:] if lp.logprob is not None)


def test_a_cached_prefix_is_not_reused_for_scoring(engine: ModelEngine) -> None:
    prompt = engine.backend.tokenize(PROMPT, add_special=True)
    first = score(engine, prompt)
    # The same prompt again: a slot holds it now, yet every position is computed (none is cached).
    again = score(engine, prompt)
    assert again.finish.usage.cached_prompt_tokens == 0
    assert [lp.logprob for lp in again.logprobs[1:]] == pytest.approx([lp.logprob for lp in first.logprobs[1:]], abs=1e-3)
