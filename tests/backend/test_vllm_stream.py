"""The vLLM backend's job logic without vLLM: sampling and constraint mapping, logprob conversion, and
the sink rules (`JobRunner`) driven by a fake `AsyncLLM` on a real event loop in its own thread, as the
backend runs it. The same finish rules as tests/backend/test_scheduler_core.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chuk_lazarus.backends.base import BackendFinish, BackendJob, RawLogprob
from chuk_lazarus.backends.vllm.loading import parse_engine_args, split_engine_args
from chuk_lazarus.backends.vllm.mapping import grammar_for, prompt_raw_logprobs, raw_logprob, sampling_kwargs
from chuk_lazarus.backends.vllm.stream import JobRunner
from chuk_lazarus.core.errors import GenerationFailed, InvalidRequest, Overloaded
from chuk_lazarus.core.grammar import Constraint, Marker, ReasoningGate, after_reasoning
from chuk_lazarus.core.types import LazyTrigger, SamplingParams

EOS = 2


# -- mapping -------------------------------------------------------------------------------------


def job_with(**kwargs: Any) -> BackendJob:
    defaults: dict[str, Any] = {"prompt_tokens": [1, 5, 6], "sampling": SamplingParams(), "max_tokens": 8}
    defaults.update(kwargs)
    defaults.setdefault("sink", Sink())
    return BackendJob(**defaults)


def test_every_sampling_field_maps_to_vllm() -> None:
    sampling = SamplingParams(temperature=0.7, top_p=0.9, top_k=40, min_p=0.05, seed=-3, presence_penalty=0.5,
                              frequency_penalty=0.25, repeat_penalty=1.1, logit_bias={7: -100.0})  # fmt: skip
    kwargs = sampling_kwargs(job_with(sampling=sampling, logprobs=3, prompt_logprobs=0), stop_token_ids=[2, 5])
    assert kwargs == {
        "n": 1, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
        "presence_penalty": 0.5, "frequency_penalty": 0.25, "repetition_penalty": 1.1,
        "seed": (-3) & 0x7FFFFFFFFFFFFFFF, "max_tokens": 8, "stop_token_ids": [2, 5],
        "detokenize": False, "skip_special_tokens": False,
        "logit_bias": {7: -100.0}, "logprobs": 3, "prompt_logprobs": 0,
    }  # fmt: skip


def test_defaults_leave_logprobs_and_bias_out_and_a_scoring_job_asks_one_token() -> None:
    kwargs = sampling_kwargs(job_with(max_tokens=0, sampling=SamplingParams(temperature=0.0)), stop_token_ids=[])
    assert kwargs["max_tokens"] == 1 and kwargs["temperature"] == 0.0 and kwargs["top_k"] == 0
    assert kwargs["seed"] is None
    assert not {"logprobs", "prompt_logprobs", "logit_bias"} & kwargs.keys()


def test_a_constraint_is_passed_as_its_grammar_text_but_a_lazy_one_is_not() -> None:
    eager = Constraint('start: %json{"type": "object"}')
    assert grammar_for(job_with(constraint=eager)) == eager.grammar
    gbnf = Constraint('root ::= "yes" | "no"', syntax="gbnf")
    assert grammar_for(job_with(constraint=gbnf)) == gbnf.grammar
    lazy = Constraint("start: x", triggers=(LazyTrigger(literal="<tool_call>"),))
    assert grammar_for(job_with(constraint=lazy)) is None
    assert grammar_for(job_with()) is None


def test_after_a_reasoning_the_grammar_holds_the_answer_and_a_budget_alone_is_not_passed() -> None:
    gate = ReasoningGate(Marker("<think>"), Marker("</think>"), opened=True, budget=8, close_tokens=(1, 2))
    schema = after_reasoning(Constraint('start: %json{"type": "object"}'), gate)
    assert grammar_for(job_with(constraint=schema)) == schema.grammar  # the reasoning rule first
    gbnf = after_reasoning(Constraint('root ::= "yes" | "no"', syntax="gbnf"), gate)
    text = grammar_for(job_with(constraint=gbnf))
    assert text is not None and text.startswith("start: lzreason") and "yes" in text  # made one lark grammar
    assert grammar_for(job_with(constraint=after_reasoning(None, gate))) is None  # only a budget


@dataclass
class Lp:
    logprob: float
    rank: int | None


def test_logprobs_come_back_best_first_with_the_chosen_token() -> None:
    entry = {9: Lp(-3.0, 7), 4: Lp(-0.1, 1), 5: Lp(-2.0, 2)}  # chosen 9 ranks 7th; top 2 asked
    assert raw_logprob(entry, 9, 2) == RawLogprob(-3.0, ((4, -0.1), (5, -2.0)))
    assert raw_logprob(entry, 4, 0) == RawLogprob(-0.1)
    prompt = prompt_raw_logprobs([None, {5: Lp(-1.5, 3)}, {6: Lp(-0.5, 1)}], [1, 5, 6], 0)
    assert prompt == (RawLogprob(-1.5), RawLogprob(-0.5))


def test_engine_args_split_on_commas_before_a_key_and_parse_json_values() -> None:
    items = split_engine_args(['enable_prefix_caching=false,kv-cache-dtype=fp8', 'override={"a":1,"b":2}'])
    assert items == ["enable_prefix_caching=false", "kv-cache-dtype=fp8", 'override={"a":1,"b":2}']
    assert parse_engine_args(items) == {"enable_prefix_caching": False, "kv_cache_dtype": "fp8",
                                        "override": {"a": 1, "b": 2}}  # fmt: skip
    with pytest.raises(ValueError, match="is not KEY=VALUE"):
        parse_engine_args(["swap_space"])
    with pytest.raises(ValueError, match="--parallel"):
        parse_engine_args(["max_num_seqs=8"])


# -- the runner ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Sink:
    events: list[Any] = field(default_factory=list)
    tokens: list[tuple[int, bytes, RawLogprob | None]] = field(default_factory=list)
    stop_after: int | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: str = ""

    def on_admitted(self) -> None:
        self.events.append("admitted")

    def on_prompt_logprobs(self, logprobs: tuple[RawLogprob, ...]) -> None:
        self.events.append(("prompt_logprobs", logprobs))

    def on_prompt_done(self, cached_tokens: int) -> None:
        self.events.append(("prompt_done", cached_tokens))

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        self.thread = threading.current_thread().name
        self.tokens.append((token, piece, logprob))
        return self.stop_after is None or len(self.tokens) < self.stop_after

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        self.events.append(("finish", reason, completion_tokens))
        self.done.set()

    def on_error(self, error: Exception) -> None:
        self.events.append(("error", error))
        self.done.set()

    def finish(self) -> Any:
        assert self.done.wait(5), self.events
        return self.events[-1]


@dataclass
class Completion:
    token_ids: list[int]
    logprobs: list[dict[int, Lp]] | None = None
    finish_reason: str | None = None


@dataclass
class Output:
    outputs: list[Completion]
    finished: bool = False
    num_cached_tokens: int = 0
    prompt_logprobs: list[dict[int, Lp] | None] | None = None


class FakeEngine:
    """`generate` yields the scripted tokens one DELTA output each (then EOS), `step` seconds apart;
    an aborted or closed stream is recorded, as vLLM aborts the request then."""

    def __init__(self) -> None:
        self.script: dict[str, list[int]] = {}
        self.default = [10, 11, 12, 13]
        self.step = 0.0
        self.closed: list[str] = []
        self.started: list[str] = []
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def generate(self, prompt: Any, params: Any, request_id: str) -> AsyncIterator[Output]:
        self.started.append(request_id)
        if self.fail is not None:
            raise self.fail
        tokens = [*params.get("script", self.default), EOS]
        try:
            for index, token in enumerate(tokens):
                if self.gate is not None:
                    await self.gate.wait()
                await asyncio.sleep(self.step)
                last = index == len(tokens) - 1
                logprobs = [{token: Lp(-0.5, 1), 99: Lp(-1.0, 2)}] if params.get("logprobs") is not None else None
                yield Output(
                    [Completion([token], logprobs, "stop" if last else None)],
                    finished=last,
                    num_cached_tokens=3 if index == 0 else 0,
                    prompt_logprobs=[None, {5: Lp(-1.0, 1)}, {6: Lp(-2.0, 1)}] if index == 0 else None,
                )
        except (GeneratorExit, asyncio.CancelledError):
            self.closed.append(request_id)
            raise


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-vllm-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def make_runner(engine: FakeEngine, loop: asyncio.AbstractEventLoop, *, slots: int = 2, max_queue: int = 1,
                context: int = 64) -> JobRunner:  # fmt: skip
    def request(job: BackendJob) -> tuple[Any, Any]:
        params: dict[str, Any] = {"logprobs": job.logprobs}
        if job.prompt_tokens[0] == 0:  # a test's own script: the prompt's tail
            params["script"] = job.prompt_tokens[1:]
        return job.prompt_tokens, params

    return JobRunner(engine, loop, make_request=request, is_eog=lambda t: t == EOS,
                     piece=lambda t: b"<%d>" % t, classify=classify, context=context, slots=slots,
                     max_queue=max_queue)  # fmt: skip


def classify(exc: Exception) -> Exception:
    return InvalidRequest(str(exc)) if isinstance(exc, ValueError) else GenerationFailed(str(exc))


def submit(runner: JobRunner, **kwargs: Any) -> tuple[BackendJob, Sink]:
    job = job_with(**kwargs)
    runner.submit(job)
    return job, job.sink  # type: ignore[return-value]


def test_a_job_hears_admitted_prompt_done_then_its_tokens_and_eos_counted_not_delivered(
    engine: FakeEngine, loop: asyncio.AbstractEventLoop
) -> None:
    runner = make_runner(engine, loop)
    _, sink = submit(runner, logprobs=1, prompt_logprobs=0)
    assert sink.finish() == ("finish", "eos", 5)
    assert sink.events[0] == "admitted"
    assert sink.events[1] == ("prompt_logprobs", (RawLogprob(-1.0), RawLogprob(-2.0)))
    assert sink.events[2] == ("prompt_done", 3)
    assert [t for t, _, _ in sink.tokens] == [10, 11, 12, 13]
    assert sink.tokens[0] == (10, b"<10>", RawLogprob(-0.5, ((10, -0.5),)))
    assert sink.thread == "fake-vllm-loop"  # sinks are called on the backend's thread
    assert runner.stats().active == 0


def test_a_sink_that_says_stop_ends_the_job_stopped_and_aborts_the_request(
    engine: FakeEngine, loop: asyncio.AbstractEventLoop
) -> None:
    runner = make_runner(engine, loop)
    _, sink = submit(runner, sink=Sink(stop_after=2))
    assert sink.finish() == ("finish", "stopped", 2)
    assert engine.closed == engine.started


def test_max_tokens_and_the_context_end_a_job_length(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    _, sink = submit(make_runner(engine, loop), max_tokens=3)
    assert sink.finish() == ("finish", "length", 3)
    _, sink = submit(make_runner(engine, loop, context=5), max_tokens=30)  # 3 prompt tokens + 2 generated fill a context of 5
    assert sink.finish() == ("finish", "length", 2)
    assert len(engine.closed) == 2


def test_a_scoring_job_gets_its_prompt_and_no_token(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    runner = make_runner(engine, loop)
    _, sink = submit(runner, max_tokens=0, prompt_logprobs=0)
    assert sink.finish() == ("finish", "length", 0)
    assert sink.tokens == [] and sink.events[2] == ("prompt_done", 3)


def test_cancel_ends_a_running_job_cancelled(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    runner = make_runner(engine, loop)
    engine.gate = asyncio.Event()
    job, sink = submit(runner)
    while not engine.started:
        threading.Event().wait(0.01)
    runner.cancel(job)
    assert sink.finish() == ("finish", "cancelled", 0)
    assert engine.closed == engine.started


def test_a_job_cancelled_before_it_starts_still_finishes_once(
    engine: FakeEngine, loop: asyncio.AbstractEventLoop
) -> None:
    runner = make_runner(engine, loop)
    job = job_with()
    job.cancelled = True
    runner.submit(job)
    assert job.sink.finish() == ("finish", "cancelled", 0)  # type: ignore[attr-defined]
    assert engine.started == []


def test_admission_is_bounded_past_slots_plus_queue(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    runner = make_runner(engine, loop, slots=2, max_queue=1)
    engine.gate = asyncio.Event()
    sinks = [submit(runner)[1] for _ in range(3)]
    with pytest.raises(Overloaded, match="queue is full"):
        submit(runner)
    stats = runner.stats()
    assert (stats.active, stats.queued, stats.slots, stats.max_queue) == (2, 1, 2, 1)
    loop.call_soon_threadsafe(engine.gate.set)
    assert all(s.finish()[:2] == ("finish", "eos") for s in sinks)


def test_drain_ends_every_job_shutdown_and_refuses_new_ones(
    engine: FakeEngine, loop: asyncio.AbstractEventLoop
) -> None:
    runner = make_runner(engine, loop)
    engine.gate = asyncio.Event()
    sinks = [submit(runner)[1] for _ in range(2)]
    while len(engine.started) < 2:
        threading.Event().wait(0.01)
    asyncio.run_coroutine_threadsafe(runner.drain(), loop).result(5)
    assert [s.finish() for s in sinks] == [("finish", "shutdown", 0)] * 2
    with pytest.raises(Overloaded, match="shutting down"):
        submit(runner)


def test_an_engine_error_fails_that_job_alone(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    runner = make_runner(engine, loop)
    engine.fail = ValueError("token id 99999 out of vocabulary")
    _, sink = submit(runner)
    event = sink.finish()
    assert event[0] == "error" and isinstance(event[1], InvalidRequest)
    engine.fail = None
    _, sink = submit(runner)
    assert sink.finish() == ("finish", "eos", 5)


def test_a_sink_that_raises_ends_its_own_job(engine: FakeEngine, loop: asyncio.AbstractEventLoop) -> None:
    runner = make_runner(engine, loop)

    class Broken(Sink):
        def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
            raise RuntimeError("event loop is closed")

    _, sink = submit(runner, sink=Broken())
    event = sink.finish()
    assert event[0] == "error" and isinstance(event[1], GenerationFailed)
    assert runner.stats().active == 0
