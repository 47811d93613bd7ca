"""`ModelEngine.start`: one plan per request, `n` jobs with seed + i, one queue, cancel reasons, queue time.

A backend stand-in that runs each job at once on the calling thread (the real ones run it on their
worker thread through the same sink calls), so these tests need no model.
"""

from __future__ import annotations

import time

import pytest

from chuk_lazarus.backends.base import Backend, BackendFinish, BackendJob
from chuk_lazarus.core.errors import GenerationFailed, Overloaded
from chuk_lazarus.core.types import GenerationRequest, LoadStats, ModelInfo, SamplingParams
from chuk_lazarus.engine import ModelEngine


class ScriptedBackend(Backend):
    """Answers every job with the bytes of `reply`, one token per byte, unless told to end otherwise."""

    def __init__(self, reply: bytes = b"ok", *, finish: BackendFinish = "eos", max_queue: int = 8) -> None:
        self.info = ModelInfo(name="scripted", path="-", backend="scripted", context_length=64)
        self.bos_token = self.eos_token = ""
        self.reply, self.finish, self.max_queue = reply, finish, max_queue
        self.jobs: list[BackendJob] = []
        self.tokenized = 0
        self.cancelled: list[BackendJob] = []
        self.queue_wait_s = 0.0

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = True) -> list[int]:
        self.tokenized += 1
        return list(text.encode())

    def token_bytes(self, token: int) -> bytes:
        return bytes([token])

    def submit(self, job: BackendJob) -> None:
        if len(self.jobs) >= self.max_queue:
            raise Overloaded("full")
        self.jobs.append(job)
        time.sleep(self.queue_wait_s)
        job.sink.on_admitted()
        job.sink.on_prompt_done(0)
        for byte in self.reply:
            job.sink.on_token(byte, bytes([byte]), None)
        job.sink.on_finish(self.finish, len(self.reply))

    def cancel(self, job: BackendJob) -> None:
        self.cancelled.append(job)

    def load_stats(self) -> LoadStats:
        return LoadStats(active=0, queued=0, slots=1, max_queue=self.max_queue)

    def close(self) -> None:
        pass


def request(**kw: object) -> GenerationRequest:
    return GenerationRequest(prompt="hello", max_tokens=8, **kw)  # type: ignore[arg-type]


async def test_n_choices_are_planned_once_and_seeded_apart() -> None:
    backend = ScriptedBackend(b"hi")
    engine = ModelEngine(backend)
    generation = await engine.start(request(n=3, sampling=SamplingParams(temperature=0.7, seed=10)))
    results = await generation.results()
    assert backend.tokenized == 1  # one plan for the whole request
    assert [job.sampling.seed for job in backend.jobs] == [10, 11, 12]
    assert [r.text for r in results] == ["hi", "hi", "hi"]
    assert generation.prompt_tokens == len(b"hello")


async def test_unseeded_choices_stay_unseeded() -> None:
    backend = ScriptedBackend()
    generation = await ModelEngine(backend).start(request(n=2, sampling=SamplingParams(temperature=0.7)))
    await generation.results()
    assert [job.sampling.seed for job in backend.jobs] == [None, None]


async def test_events_come_tagged_with_their_choice_in_generation_order() -> None:
    generation = await ModelEngine(ScriptedBackend(b"ab")).start(request(n=2))
    got = [(i, type(e).__name__) async for i, e in generation]
    # The stand-in runs choice 0 to its end, then choice 1: the order they were generated in.
    assert got == [(0, "TextDelta"), (0, "TextDelta"), (0, "Finish"), (1, "TextDelta"), (1, "TextDelta"), (1, "Finish")]


async def test_an_overloaded_choice_cancels_the_ones_already_queued() -> None:
    backend = ScriptedBackend(max_queue=2)
    with pytest.raises(Overloaded):
        await ModelEngine(backend).start(request(n=3))
    assert backend.cancelled == backend.jobs[:2]


@pytest.mark.parametrize(
    ("reason", "says"),
    [("cancelled", "its client went away"), ("shutdown", "the server is shutting down")],
)
async def test_a_cancelled_generation_says_why(reason: BackendFinish, says: str) -> None:
    generation = await ModelEngine(ScriptedBackend(b"", finish=reason)).start(request())
    with pytest.raises(GenerationFailed, match=says):
        await generation.results()


async def test_queue_time_is_measured_apart_from_prefill() -> None:
    backend = ScriptedBackend(b"x")
    backend.queue_wait_s = 0.02
    [result] = await (await ModelEngine(backend).start(request())).results()
    assert result.finish.timings.queued_ns >= 20_000_000
    assert result.finish.timings.prompt_ns < result.finish.timings.queued_ns


async def test_leaving_early_cancels_every_unfinished_choice() -> None:
    backend = ScriptedBackend(b"abc")
    generation = await ModelEngine(backend).start(request(n=2))
    await generation.next()  # choice 0's first event
    await generation.aclose()
    # Both choices were still open from the consumer's side (no Finish read yet).
    assert backend.cancelled == backend.jobs
