"""The shared scheduler core with a scripted stepper: finish rules, cancel, shutdown, sink failures,
deferral and failed steps, the same for every backend and without a model."""

from __future__ import annotations

import contextlib
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import pytest

from chuk_lazarus.backends.base import BackendFinish, BackendJob, RawLogprob
from chuk_lazarus.backends.scheduler import Placed, Sampled, Scheduler, Wait
from chuk_lazarus.core.errors import GenerationFailed, Overloaded
from chuk_lazarus.core.grammar import Constraint
from chuk_lazarus.core.types import LoadStats, SamplingParams

EOS = 0


@dataclass(eq=False)
class FakeSeq:
    job: BackendJob
    tokens: list[int]  # what this sequence will sample, in order
    forced: dict[int, tuple[int, ...]] = field(default_factory=dict)  # token -> the run forced after it


class FakeStepper:
    """Each sequence samples its scripted tokens (then 7s); a step raises once `fail_at` are placed."""

    def __init__(self) -> None:
        self.seqs: list[FakeSeq] = []
        self.released: list[FakeSeq] = []
        self.defer: set[int] = set()  # ids of jobs to defer once
        self.fail_at: int | None = None
        self.gate = threading.Event()  # each step waits for this, so a test can act between steps
        self.gate.set()
        self.reset_calls = 0

    def worker(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def place(self, job: BackendJob) -> Placed[FakeSeq] | Wait:
        if id(job) in self.defer:
            self.defer.discard(id(job))
            return Wait.DEFER
        if job.constraint is not None and job.constraint.grammar == "bad":
            raise ValueError("bad grammar")
        seq = FakeSeq(job, list(job.prompt_tokens[1:]))
        self.seqs.append(seq)
        return Placed(seq, cached=job.prompt_tokens[0])

    def step(self) -> list[Sampled[FakeSeq]]:
        self.gate.wait(5)
        if self.fail_at is not None and len(self.seqs) >= self.fail_at:
            self.fail_at = None
            raise RuntimeError("decode exploded")
        out = []
        for s in self.seqs:
            token = s.tokens.pop(0) if s.tokens else 7
            out.append(Sampled(s, token, RawLogprob(-0.5), forced=s.forced.get(token, ())))
        return out

    def release(self, seq: FakeSeq) -> None:
        self.seqs.remove(seq)
        self.released.append(seq)

    def reset(self) -> None:
        self.reset_calls += 1
        self.seqs.clear()

    def is_eog(self, token: int) -> bool:
        return token == EOS

    def piece(self, token: int) -> bytes:
        return f"<{token}>".encode()

    def prompt_cache(self) -> tuple[int, int, int]:
        return 0, 0, 0


@dataclass
class RecordingSink:
    stop_after: int | None = None  # return False from on_token after this many tokens
    raise_on_token: bool = False
    events: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    finish: tuple[BackendFinish, int] | None = None
    error: Exception | None = None

    def on_admitted(self) -> None:
        self.events.append("admitted")

    def on_prompt_done(self, cached_tokens: int) -> None:
        self.events.append(f"prompt:{cached_tokens}")

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        if self.raise_on_token:
            raise RuntimeError("event loop is closed")
        self.events.append(piece.decode())
        return self.stop_after is None or len([e for e in self.events if e.startswith("<")]) < self.stop_after

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        self.finish = (reason, completion_tokens)
        self.done.set()

    def on_error(self, error: Exception) -> None:
        self.error = error
        self.done.set()


def _job(prompt: list[int], *, max_tokens: int = 100, **sink_args: object) -> BackendJob:
    return BackendJob(prompt, SamplingParams(), max_tokens, RecordingSink(**sink_args))  # type: ignore[arg-type]


def _sink(job: BackendJob) -> RecordingSink:
    assert isinstance(job.sink, RecordingSink)
    return job.sink


@pytest.fixture
def stepper() -> FakeStepper:
    return FakeStepper()


def _scheduler(stepper: FakeStepper, *, slots: int = 2, context: int = 64, max_queue: int = 8):  # type: ignore[no-untyped-def]
    return Scheduler(stepper, slots=slots, context=context, max_queue=max_queue, name="test-scheduler")


def _wait(job: BackendJob) -> RecordingSink:
    sink = _sink(job)
    assert sink.done.wait(5), sink.events
    return sink


def test_finish_rules_eos_stop_max_tokens_and_context(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=4, context=10)
    eos = _job([3, 5, 6, EOS, 9])
    stopped = _job([0, 5, 6, 7, 8], stop_after=2)
    capped = _job([0], max_tokens=3)
    full = _job([0, 1, 2, 3, 4, 5, 6])  # 7 prompt tokens, context 10: 3 can be generated
    try:
        for job in (eos, stopped, capped, full):
            sched.submit(job)
        assert _wait(eos).finish == ("eos", 3)
        assert _wait(eos).events == ["admitted", "prompt:3", "<5>", "<6>"]  # EOS reaches no sink
        assert _wait(stopped).finish == ("stopped", 2)
        assert _wait(capped).finish == ("length", 3)
        assert _wait(full).finish == ("length", 3)
        assert stepper.seqs == [] and len(stepper.released) == 4
    finally:
        sched.close()


def test_cancel_ends_a_running_and_a_queued_job_as_cancelled(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=1)
    running, queued = _job([0]), _job([0])
    try:
        stepper.gate.clear()
        sched.submit(running)
        sched.submit(queued)
        sched.cancel(queued)
        sched.cancel(running)
        stepper.gate.set()
        assert _wait(running).finish is not None and _wait(running).finish[0] == "cancelled"
        assert _wait(queued).finish == ("cancelled", 0)
        assert "admitted" not in _sink(queued).events
    finally:
        sched.close()


def test_close_finishes_running_and_queued_jobs_as_shutdown(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=1)
    running, queued = _job([0], max_tokens=10**9), _job([0])
    sched.submit(running)
    sched.submit(queued)
    sched.close()
    assert _wait(running).finish is not None and _wait(running).finish[0] == "shutdown"
    assert _wait(queued).finish == ("shutdown", 0)
    with pytest.raises(Overloaded):
        sched.submit(_job([0]))


def test_a_failing_sink_ends_only_its_own_job(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=2)
    broken, fine = _job([0], raise_on_token=True), _job([0], max_tokens=5)
    try:
        sched.submit(broken)
        sched.submit(fine)
        assert isinstance(_wait(broken).error, GenerationFailed)
        assert _wait(fine).finish == ("length", 5)
        assert sched.thread.is_alive()
    finally:
        sched.close()


def test_a_failed_step_fails_every_sequence_in_it_and_the_worker_goes_on(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=2)
    first, second = _job([0], max_tokens=10**9), _job([0], max_tokens=10**9)
    stepper.fail_at = 2
    try:
        sched.submit(first)
        sched.submit(second)
        assert isinstance(_wait(first).error, GenerationFailed)
        assert isinstance(_wait(second).error, GenerationFailed)
        assert stepper.reset_calls == 1
        after = _job([0], max_tokens=2)
        sched.submit(after)
        assert _wait(after).finish == ("length", 2)
    finally:
        sched.close()


def test_a_job_that_cannot_be_placed_fails_alone(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=2)
    bad = _job([0])
    bad.constraint = Constraint("bad")
    good = _job([0], max_tokens=1)
    try:
        sched.submit(bad)
        sched.submit(good)
        assert isinstance(_wait(bad).error, ValueError)
        assert _wait(good).finish == ("length", 1)
    finally:
        sched.close()


def test_a_deferred_job_keeps_its_place_and_later_jobs_start(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=4)
    deferred, later = _job([0], max_tokens=2), _job([0], max_tokens=2)
    stepper.defer.add(id(deferred))
    try:
        stepper.gate.clear()
        sched.submit(deferred)
        sched.submit(later)
        stepper.gate.set()
        assert _wait(later).finish == ("length", 2)
        assert _wait(deferred).finish == ("length", 2)
    finally:
        sched.close()


def test_stats_and_a_full_queue(stepper: FakeStepper) -> None:
    stepper.gate.clear()
    sched = _scheduler(stepper, slots=1, max_queue=1)
    try:
        sched.submit(_job([0]))
        while sched.stats().active != 1:
            pass
        sched.submit(_job([0]))
        # The running job holds its one prompt token (nothing generated: the step is held); the
        # capacity is one slot of the 64-token context.
        assert sched.stats() == LoadStats(active=1, queued=1, slots=1, max_queue=1, kv_tokens=1, kv_capacity=64)
        with pytest.raises(Overloaded):
            sched.submit(_job([0]))
    finally:
        stepper.gate.set()
        sched.close()


def test_forced_runs_are_delivered_counted_and_cut_by_the_finish_rules(stepper: FakeStepper) -> None:
    sched = _scheduler(stepper, slots=3)
    whole, cut, eos = _job([0, 1, 2, 3]), _job([0, 4, 5, 6], max_tokens=3), _job([0, 8, 9])
    try:
        stepper.gate.clear()
        for job in (whole, cut, eos):
            sched.submit(job)
        while len(stepper.seqs) < 3:
            threading.Event().wait(0.01)
        by_job = {seq.job: seq for seq in stepper.seqs}
        by_job[whole].forced = {1: (11, 12), 3: (EOS,)}  # … 1 11 12 2 3 then a forced end
        by_job[cut].forced = {4: (41, 42, 43)}  # max_tokens=3 ends inside the run
        by_job[eos].forced = {8: (EOS, 99)}  # nothing after an end-of-generation token
        stepper.gate.set()
        assert _wait(whole).events[2:] == ["<1>", "<11>", "<12>", "<2>", "<3>"]
        assert _wait(whole).finish == ("eos", 6)
        assert _wait(cut).events[2:] == ["<4>", "<41>", "<42>"] and _wait(cut).finish == ("length", 3)
        assert _wait(eos).events[2:] == ["<8>"] and _wait(eos).finish == ("eos", 2)
        assert sched.forced_tokens == 2 + 1 + 2 + 1
    finally:
        sched.close()


class KeptFirstStepper(FakeStepper):
    """A prompt starting with 99 was seen before: its first token (its second prompt entry) is sampled
    at placement, as llama.cpp's stepper does from the logits kept at a prompt's end."""

    def place(self, job: BackendJob) -> Placed[FakeSeq] | Wait:
        placed = super().place(job)
        if isinstance(placed, Placed) and job.prompt_tokens[0] == 99:
            first = placed.seq.tokens.pop(0)
            return Placed(placed.seq, cached=len(job.prompt_tokens), first=(first, RawLogprob(-0.1)))
        return placed


def test_a_first_token_sampled_at_placement_is_delivered_before_any_step() -> None:
    stepper = KeptFirstStepper()
    stepper.gate.clear()  # no step can finish
    sched = _scheduler(stepper, slots=4)
    seen, ends_at_once, one_token = _job([99, 5, 6, EOS]), _job([99, EOS]), _job([99, 8, 9], max_tokens=1)
    try:
        for job in (seen, ends_at_once, one_token):
            sched.submit(job)
        assert _wait(ends_at_once).finish == ("eos", 1)  # its first token ended it: no step ran
        assert _wait(one_token).finish == ("length", 1)
        assert _wait(one_token).events == ["admitted", "prompt:3", "<8>"]
        assert _sink(seen).events == ["admitted", "prompt:4", "<5>"] and _sink(seen).finish is None
        assert len(stepper.released) == 2 and stepper.seqs[0].job is seen
        stepper.gate.set()  # the rest comes from the steps
        assert _wait(seen).finish == ("eos", 3)  # 5 at placement, 6 and the EOS from steps
        assert _sink(seen).events == ["admitted", "prompt:4", "<5>", "<6>"]
    finally:
        sched.close()
