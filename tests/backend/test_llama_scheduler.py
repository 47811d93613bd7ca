"""The llama.cpp scheduler on the real embedded model: no cross-talk under batching, prefix sharing,
cancellation within one step, bounded admission."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from chuk_lazarus.core.errors import Overloaded
from chuk_lazarus.core.types import ChatMessage, Finish, GenerationRequest, SamplingParams, TextDelta
from chuk_lazarus.engine import ModelEngine

TOPICS = ["cats", "the ocean", "Paris", "volcanoes", "bread", "music", "rain", "the moon",
          "trains", "chess", "gardens", "winter", "coffee", "robots", "rivers", "books"]  # fmt: skip
SYSTEM = "You are a careful assistant. " + " ".join(
    f"Rule {i}: answer briefly and politely." for i in range(40)
)


def _request(
    i: int, temperature: float, *, max_tokens: int = 32, system: str | None = None
) -> GenerationRequest:
    sampling = SamplingParams(temperature=temperature, seed=1000 + i)
    messages = (ChatMessage(role="user", content=f"Write two sentences about {TOPICS[i]}."),)
    if system:
        messages = (ChatMessage(role="system", content=system), *messages)
    return GenerationRequest(messages=messages, max_tokens=max_tokens, sampling=sampling)


_ENGINES: dict[str, ModelEngine] = {}


async def _load(model: str) -> ModelEngine:
    if model not in _ENGINES:
        # One thread: llama.cpp's spinning thread pool degrades badly when cores are oversubscribed.
        _ENGINES[model] = await ModelEngine.load(model, parallel=16, threads=1)
    return _ENGINES[model]


@pytest.fixture(scope="module", autouse=True)
def _close_engines() -> Iterator[None]:
    yield
    for eng in _ENGINES.values():
        asyncio.run(eng.aclose())
    _ENGINES.clear()


@pytest.fixture
async def engine() -> ModelEngine:
    return await _load("smollm2-135m")  # the 16-bit copy `lazarus serve` serves by default


def _scheduler(engine: ModelEngine):  # type: ignore[no-untyped-def]
    return engine.backend.scheduler  # type: ignore[attr-defined]


async def _wait_idle(engine: ModelEngine, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while engine.load_stats().active or engine.load_stats().queued:
        assert asyncio.get_running_loop().time() < deadline, engine.load_stats()
        await asyncio.sleep(0.01)


# Q4_1 (the shipped file): llama.cpp's quantized kernels give bit-identical logits whatever the batch,
# so even seeded sampling must match exactly. F16: llama.cpp multiplies a 1-token batch with a different
# kernel (vec_dot_f16) than a multi-token one (tinyBLAS), logits differ by ~1e-2, so there only greedy
# output is required to match (llama-server has the same property on that file).
@pytest.mark.parametrize(
    ("model", "temperature"),
    [("smollm2-135m", 0.0), ("smollm2-135m:q4_1", 0.0), ("smollm2-135m:q4_1", 0.8)],
    ids=["f16-greedy", "q4_1-greedy", "q4_1-seeded-t0.8"],
)
async def test_sixteen_concurrent_requests_match_each_request_alone(model: str, temperature: float) -> None:
    engine = await _load(model)
    alone = [(await engine.agenerate(_request(i, temperature))).text for i in range(16)]
    together = await asyncio.gather(*(engine.agenerate(_request(i, temperature)) for i in range(16)))
    mismatched = [i for i in range(16) if together[i].text != alone[i]]
    assert not mismatched, [(alone[i], together[i].text) for i in mismatched]
    assert len(set(alone)) == 16  # distinct prompts, distinct answers: nothing leaked between them


async def test_requests_arriving_together_compute_a_shared_prefix_once(engine: ModelEngine) -> None:
    await _wait_idle(engine)
    # Fill every slot's memory with something unrelated first, so only sharing can help.
    await asyncio.gather(*(engine.agenerate(_request(i, 0.0, max_tokens=2)) for i in range(16)))
    results = await asyncio.gather(*(engine.agenerate(_request(i, 0.0, system=SYSTEM)) for i in range(8)))
    cached = sorted(r.finish.usage.cached_prompt_tokens for r in results)
    prompt = results[0].finish.usage.prompt_tokens
    assert prompt > 300
    # One leader computes the system prompt; the seven others reuse all of it.
    assert cached[0] < 300 and all(c > 300 for c in cached[1:]), cached
    # And sharing memory changes nothing in what each request says.
    plain = [(await engine.agenerate(_request(i, 0.0, system=SYSTEM))).text for i in range(8)]
    assert [r.text for r in results] == plain


async def test_a_cancelled_stream_frees_its_sequence_within_one_step(engine: ModelEngine) -> None:
    await _wait_idle(engine)
    sched = _scheduler(engine)
    model = engine.backend.model  # type: ignore[attr-defined]
    endless = SamplingParams(
        temperature=0.8, seed=1, logit_bias={t: -100.0 for t in range(8) if model.is_eog(t)}
    )
    stream = await engine.start(dataclasses.replace(_request(0, 0.8, max_tokens=2000), sampling=endless))
    # Another sequence keeps the scheduler stepping.
    busy = await engine.start(dataclasses.replace(_request(1, 0.8, max_tokens=2000), sampling=endless))
    async for _, event in stream:  # (choice index, event)
        if isinstance(event, TextDelta):
            break
    while engine.load_stats().active != 2:
        await asyncio.sleep(0.001)
    step_at_cancel = sched.steps
    await stream.aclose()
    while engine.load_stats().active != 1:
        await asyncio.sleep(0.001)
    assert sched.steps - step_at_cancel <= 1
    await busy.aclose()
    await _wait_idle(engine)


async def test_a_full_queue_refuses_at_once_and_accepted_requests_complete() -> None:
    eng = await ModelEngine.load(None, parallel=1, max_queue=1, threads=1)
    try:
        running = await eng.start(_request(0, 0.0, max_tokens=24))
        while eng.load_stats().active != 1:  # admitted: the queue is empty again
            await asyncio.sleep(0.001)
        queued = await eng.start(_request(1, 0.0, max_tokens=24))
        with pytest.raises(Overloaded) as refused:
            await eng.start(_request(2, 0.0))
        assert refused.value.retry_after >= 1

        # Over HTTP, the OpenAI protocol answers 503 with Retry-After.
        from chuk_lazarus.server import create_app

        transport = httpx.ASGITransport(app=create_app(eng))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            reply = await client.post(
                "/v1/chat/completions",
                json={"model": eng.model_name, "messages": [{"role": "user", "content": "hi"}]},
            )
        assert reply.status_code == 503
        assert int(reply.headers["retry-after"]) >= 1
        assert reply.json()["error"]["code"] == "overloaded"

        for stream in (running, queued):
            events = [e async for _, e in stream]
            assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")
    finally:
        await eng.aclose()
