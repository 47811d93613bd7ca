"""Sampling settings reach llama.cpp's sampler chain and change what is generated (real embedded model)."""

from __future__ import annotations

import pytest
import pytest_asyncio

from chuk_lazarus.engine import ChatMessage, GenerationRequest, ModelEngine, SamplingParams

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(900)]

PROMPT = (ChatMessage("user", "Repeat the word 'yes' twenty times."),)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine() -> ModelEngine:
    # Q4_1: batch-invariant numerics, so two runs of one request can be compared exactly.
    eng = await ModelEngine.load("smollm2-135m:q4_1", parallel=2)
    yield eng  # type: ignore[misc]
    await eng.aclose()


async def generate(engine: ModelEngine, **sampling: object) -> str:
    params = SamplingParams(**{"temperature": 0.0, **sampling})  # type: ignore[arg-type]
    result = await engine.agenerate(GenerationRequest(messages=PROMPT, sampling=params, max_tokens=24))
    return result.text


async def test_penalties_run_and_change_a_repetitive_answer(engine: ModelEngine) -> None:
    async def continue_counting(**penalty: float) -> str:
        # A raw prompt the model continues by repeating itself; penalties must break the loop.
        request = GenerationRequest(prompt="1, 2, 3, 4, 5, 6, 7, 8,", max_tokens=16,
                                    sampling=SamplingParams(temperature=0.0, **penalty))  # fmt: skip
        return (await engine.agenerate(request)).text

    plain = await continue_counting()
    assert plain.count(",") >= 3, plain  # the model keeps counting, a comma between numbers
    for penalty in ({"presence_penalty": 2.0}, {"frequency_penalty": 2.0}, {"repeat_penalty": 2.0}):
        penalised = await continue_counting(**penalty)
        assert penalised.count(",") < plain.count(","), (penalty, plain, penalised)


async def test_logit_bias_bans_a_token(engine: ModelEngine) -> None:
    plain = await generate(engine)
    first = engine.backend.tokenize(plain)[0]
    banned = await generate(engine, logit_bias={first: -100.0})
    assert engine.backend.tokenize(banned)[:1] != [first]


async def test_seeded_sampling_repeats_and_differs_by_seed(engine: ModelEngine) -> None:
    a = await generate(engine, temperature=1.0, seed=11)
    b = await generate(engine, temperature=1.0, seed=11)
    c = await generate(engine, temperature=1.0, seed=12)
    assert a == b
    assert a != c


async def test_top_k_one_is_greedy(engine: ModelEngine) -> None:
    assert await generate(engine, temperature=1.0, top_k=1, seed=5) == await generate(engine)
