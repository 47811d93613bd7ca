"""The llama.cpp scheduler on the real embedded model: no cross-talk under batching, prefix sharing,
cancellation within one step, bounded admission."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from chuk_lazarus.engine import ModelEngine
from chuk_lazarus.engine.errors import Overloaded
from chuk_lazarus.engine.types import ChatMessage, Finish, GenerationRequest, SamplingParams, TextDelta

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


@pytest.fixture(scope="module")
def engine() -> Iterator[ModelEngine]:
    eng = asyncio.run(ModelEngine.load(None, parallel=16, threads=2))
    yield eng
    asyncio.run(eng.aclose())


def _scheduler(engine: ModelEngine):  # type: ignore[no-untyped-def]
    return engine.backend.scheduler  # type: ignore[attr-defined]


async def _wait_idle(engine: ModelEngine, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while engine.load_stats()["active"] or engine.load_stats()["queued"]:
        assert asyncio.get_running_loop().time() < deadline, engine.load_stats()
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("temperature", [0.0, 0.8], ids=["greedy", "seeded-t0.8"])
async def test_sixteen_concurrent_requests_match_each_request_alone(
    engine: ModelEngine, temperature: float
) -> None:
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
    stream = await engine.start(_request(0, 0.8, max_tokens=2000))
    busy = await engine.start(_request(1, 0.8, max_tokens=2000))  # keeps the scheduler stepping
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    assert engine.load_stats()["active"] == 2
    step_at_cancel = sched.steps
    await stream.aclose()
    while engine.load_stats()["active"] != 1:
        await asyncio.sleep(0.001)
    assert sched.steps - step_at_cancel <= 1
    await busy.aclose()
    await _wait_idle(engine)


async def test_a_full_queue_refuses_at_once_and_accepted_requests_complete() -> None:
    eng = await ModelEngine.load(None, parallel=1, max_queue=1, threads=1)
    try:
        running = await eng.start(_request(0, 0.0, max_tokens=24))
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
            events = [e async for e in stream]
            assert isinstance(events[-1], Finish) and events[-1].reason in ("stop", "length")
    finally:
        await eng.aclose()
