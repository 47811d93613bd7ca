"""Continuous batching, once for every backend: the worker thread, admission, finishing and delivery.

A backend supplies only its `Stepper`: how to place a job on its model (a KV slot, a prefill list),
how to run one batched step, and how to let a sequence go. This module owns everything else, so the
rules below hold the same way whatever runs the model:

  - admission is bounded (`AdmissionQueue`); a job leaves the queue in order, except one the stepper
    defers (it waits behind a sequence prefilling the prefix it shares), which keeps its place;
  - a cancelled job ends within one step with `on_finish("cancelled", n)`; `close()` ends every job in
    flight or queued with `on_finish("shutdown", n)`;
  - a sequence ends on an end-of-generation token ("eos"), when its sink says stop ("stopped"), or at
    `max_tokens` or a full context ("length");
  - a failed step fails every sequence in it, never the thread; a sink that raises ends its own job
    only (its event loop may be gone), and the worker goes on;
  - every step's events reach asyncio through one `batched_delivery()`: one wake-up per step.

The stepper is called on the worker thread only, so it needs no locks of its own.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..core.errors import GenerationFailed
from ..core.types import LoadStats
from .admission import AdmissionQueue
from .base import Backend, BackendFinish, BackendJob, RawLogprob, TokenSink
from .delivery import batched_delivery, deliver_now

log = logging.getLogger(__name__)

# A backend's own handle for one running sequence (a KV slot, a prefill record); compared by identity.
S = TypeVar("S", bound=Hashable)


class Wait(enum.Enum):
    """Why `Stepper.place` did not start a job now."""

    NO_ROOM = "no_room"  # nothing more can start this step: stop admitting
    DEFER = "defer"  # this job should wait (it keeps its place in the queue); later ones may start


@dataclass(frozen=True)
class Placed(Generic[S]):
    """The job runs as `seq`; `cached` of its prompt tokens were already in memory (not computed).
    `first`: its first token, when the stepper could sample it at once (the whole prompt was seen
    before, and its logits kept): delivered now, before the next step."""

    seq: S
    cached: int = 0
    first: tuple[int, RawLogprob | None] | None = None


@dataclass(frozen=True)
class Sampled(Generic[S]):
    """One token a step sampled for `seq` (already recorded as the token it feeds next), then the run of
    tokens its constraint forces after it (fast-forward: fed with it in the next step, never sampled;
    delivered and counted like sampled tokens, without logprobs)."""

    seq: S
    token: int
    logprob: RawLogprob | None = None
    # With a sequence's first token, when its job asked for `prompt_logprobs` (see `TokenSink`).
    prompt_logprobs: tuple[RawLogprob, ...] | None = None
    forced: tuple[int, ...] = ()


class Stepper(Protocol[S]):
    """One backend's part of continuous batching. Every method runs on the worker thread."""

    def worker(self) -> AbstractContextManager[None]:
        """Entered once on the worker thread around all the work it does (e.g. torch.inference_mode)."""

    def place(self, job: BackendJob) -> Placed[S] | Wait:
        """Start `job` now, or say why not. An exception fails this job alone."""

    def step(self) -> Sequence[Sampled[S]]:
        """Advance every placed sequence by one batch; the tokens sampled, in the order to deliver.

        A sampled sequence continues (its token is fed next step) unless `release` is called."""

    def release(self, seq: S) -> None:
        """`seq` is over (finished, cancelled or its sink failed): free it before the next step."""

    def reset(self) -> None:
        """A step raised: forget every sequence in flight (their model state is unknown now)."""

    def is_eog(self, token: int) -> bool:
        """Whether `token` ends a generation (EOS, end of turn)."""

    def piece(self, token: int) -> bytes:
        """The bytes `token` adds to the output text."""

    def prompt_cache(self) -> tuple[int, int, int]:
        """The prompt cache beyond the slots: (bytes held, entries, byte bound); zeros if none.
        Read from any thread, without the lock (approximate, like `Scheduler.stats`)."""


@dataclass(eq=False)
class _Running(Generic[S]):
    job: BackendJob
    seq: S
    cached: int
    generated: int = 0


class Scheduler(Generic[S]):
    """The worker thread that admits jobs and steps `stepper`. `submit`/`cancel`/`stats`: any thread."""

    def __init__(self, stepper: Stepper[S], *, slots: int, context: int, max_queue: int, name: str) -> None:
        self.stepper = stepper
        self.slots = slots
        self.context = context  # tokens per sequence, prompt included
        self.admission = AdmissionQueue(max_queue)
        self.running: dict[S, _Running[S]] = {}  # insertion order: the order jobs were admitted
        self.steps = 0
        self.forced_tokens = 0  # delivered without being sampled (fast-forward), for benchmarks
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    # -- called from any thread -----------------------------------------------------------------

    def submit(self, job: BackendJob) -> None:
        """Queue `job`; raises `Overloaded` at once when the queue is full or closing."""
        self.admission.submit(job)

    def cancel(self, job: BackendJob) -> None:
        job.cancelled = True
        self.admission.wake()

    def stats(self) -> LoadStats:
        # Read without the lock: /health must never wait for a step, and approximate counts are fine.
        running = list(self.running.values())  # a copy: the worker may change the dict meanwhile
        cache_bytes, cache_entries, cache_limit = self.stepper.prompt_cache()
        return LoadStats(
            active=len(running),
            queued=len(self.admission.queue),
            slots=self.slots,
            max_queue=self.admission.max_queue,
            kv_tokens=sum(len(r.job.prompt_tokens) + r.generated for r in running),
            kv_capacity=self.slots * self.context,
            prompt_cache_bytes=cache_bytes,
            prompt_cache_entries=cache_entries,
            prompt_cache_limit_bytes=cache_limit,
        )

    def close(self) -> None:
        """Stop the worker; it ends running and queued jobs with "shutdown" first."""
        with self.admission.cond:
            self.admission.closing = True
            self.admission.cond.notify()
        self.thread.join(timeout=30)

    # -- the worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        with self.stepper.worker():
            while self._wait_for_work():
                # One event-loop wake-up for what admission delivers (first tokens sampled at once,
                # cancellations), before the step; then one per step, not one per token.
                try:
                    with batched_delivery():
                        with self.admission.cond:
                            self._admit_locked()
                        self._sweep_cancelled()
                    if self.running:
                        with batched_delivery():
                            self._step()
                except Exception as exc:  # a bug in releasing or admitting: never kill the thread
                    log.exception("scheduler iteration failed")
                    with batched_delivery():
                        self._fail_all(GenerationFailed(f"generation failed: {exc}"))
            with batched_delivery():
                self._shut_down()

    def _wait_for_work(self) -> bool:
        """Sleep until a job is queued or running; False once closing."""
        admission = self.admission
        with admission.cond:
            while not admission.closing and not admission.queue and not self.running:
                admission.cond.wait()
            return not admission.closing

    def _admit_locked(self) -> None:
        queue = self.admission.queue
        waiting: list[BackendJob] = []  # deferred: they go back to the front, in their order
        while queue and len(self.running) < self.slots:
            job = queue[0]
            if job.cancelled:
                queue.popleft()
                self._notify(job, lambda sink: sink.on_finish("cancelled", 0))
                continue
            try:
                placed = self.stepper.place(job)
            except Exception as exc:  # noqa: BLE001 - a job that cannot start (bad grammar) fails alone
                queue.popleft()
                self._report(job, exc)
                continue
            if placed is Wait.NO_ROOM:
                break
            queue.popleft()
            if placed is Wait.DEFER:
                waiting.append(job)
                continue
            assert isinstance(placed, Placed)
            run = self.running[placed.seq] = _Running(job, placed.seq, placed.cached)
            try:
                job.sink.on_admitted()
            except Exception as exc:  # noqa: BLE001 - a broken sink ends only its own job
                self._sink_failed(run, exc)
                continue
            if placed.first is not None:
                self._deliver(run, *placed.first)
                deliver_now()  # its stream starts now, not after the rest of this round's placements
        queue.extendleft(reversed(waiting))

    def _sweep_cancelled(self) -> None:
        for run in list(self.running.values()):
            if run.job.cancelled:
                self._end(run, "cancelled")

    def _step(self) -> None:
        try:
            sampled = self.stepper.step()
        except Exception as exc:  # a failed forward fails the sequences in flight, never the thread
            log.exception("generation step failed")
            self._fail_all(GenerationFailed(f"generation failed: {exc}"))
            return
        self.steps += 1
        for item in sampled:
            run = self.running.get(item.seq)
            if run is not None:
                self._deliver(run, item.token, item.logprob, item.prompt_logprobs)
            for token in item.forced:  # each one may end the sequence (eos, a stop string, max_tokens)
                if run is None or self.running.get(item.seq) is not run:
                    break
                self.forced_tokens += 1
                self._deliver(run, token, None)

    def _deliver(
        self,
        run: _Running[S],
        token: int,
        logprob: RawLogprob | None,
        prompt_logprobs: tuple[RawLogprob, ...] | None = None,
    ) -> None:
        """Hand one token to the job's sink and apply the finish rules."""
        job = run.job
        try:
            if run.generated == 0:
                if prompt_logprobs is not None:
                    job.sink.on_prompt_logprobs(prompt_logprobs)
                job.sink.on_prompt_done(run.cached)
                if job.max_tokens <= 0:  # only the prompt was wanted (scoring it): the token is dropped
                    self._end(run, "length")
                    return
            run.generated += 1
            if self.stepper.is_eog(token):
                self._end(run, "eos")
            elif not job.sink.on_token(token, self.stepper.piece(token), logprob):
                self._end(run, "stopped")
            elif run.generated >= job.max_tokens or len(job.prompt_tokens) + run.generated >= self.context:
                # The next token would have no position left (the sampled one is not in memory yet).
                self._end(run, "length")
        except Exception as exc:  # noqa: BLE001 - a broken sink (its event loop closed) ends only its job
            self._sink_failed(run, exc)

    def _end(self, run: _Running[S], reason: BackendFinish) -> None:
        self._release(run.seq)
        self._notify(run.job, lambda sink: sink.on_finish(reason, run.generated))

    def _sink_failed(self, run: _Running[S], exc: Exception) -> None:
        log.error("a request's sink failed; ending that request", exc_info=exc)
        if self.running.get(run.seq) is run:
            self._release(run.seq)
            self._report(run.job, GenerationFailed(f"generation failed: {exc}"))

    def _fail_all(self, error: Exception) -> None:
        runs = list(self.running.values())
        self.running.clear()
        try:
            self.stepper.reset()
        except Exception:
            log.exception("could not reset the backend after a failed step")
        for run in runs:
            self._report(run.job, error)

    def _shut_down(self) -> None:
        for run in list(self.running.values()):
            self._end(run, "shutdown")
        while self.admission.queue:  # closing: nothing is added any more
            self._notify(self.admission.queue.popleft(), lambda sink: sink.on_finish("shutdown", 0))

    def _release(self, seq: S) -> None:
        self.running.pop(seq, None)
        self.stepper.release(seq)

    def _report(self, job: BackendJob, error: Exception) -> None:
        self._notify(job, lambda sink: sink.on_error(error))

    def _notify(self, job: BackendJob, call: Callable[[TokenSink], None]) -> None:
        """Make a job's last sink call (its end); should the sink raise, the job is over anyway."""
        try:
            call(job.sink)
        except Exception:  # a sink's failure must not stop the worker
            log.exception("a request's sink failed")


class ScheduledBackend(Backend):
    """A `Backend` whose jobs run on the shared `Scheduler`: submitting, cancelling and load go to it.
    Subclasses set `self.scheduler` and free their model in `free()`, after the worker has stopped."""

    scheduler: Scheduler[Any]

    def submit(self, job: BackendJob) -> None:
        self.scheduler.submit(job)

    def cancel(self, job: BackendJob) -> None:
        self.scheduler.cancel(job)

    def load_stats(self) -> LoadStats:
        return self.scheduler.stats()

    def close(self) -> None:
        self.scheduler.close()
        self.free()

    def free(self) -> None:
        """Release the model and its buffers (called once, when nothing runs on them any more)."""
