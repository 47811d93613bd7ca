"""Jobs on vLLM's `AsyncLLM`: admission, one asyncio task per job, and the sink fed by the rules every
backend follows (backends/scheduler.py `_deliver`):

  - `on_admitted`, then (when asked for) `on_prompt_logprobs`, then `on_prompt_done(cached)` before the
    first token: vLLM reports a request only once its prefill produced a token, so the queue time a sink
    measures includes the prefill;
  - one `on_token(token, piece, logprob)` per token; an end-of-turn token is counted in `generated` but
    not delivered, and ends the job "eos";
  - `on_token` returning False ends it "stopped", `max_tokens` or a full context "length"; the request is
    then aborted in vLLM (closing its output generator does that);
  - `cancel` ends it "cancelled", `close` "shutdown"; exactly one `on_finish` (or `on_error`) per job.

The engine is duck-typed (`generate(prompt, params, request_id)` an async iterator of DELTA
`RequestOutput`s), and prompts and params are built by a callable the backend passes in, so this module
imports nothing from vLLM and is tested with a fake engine (tests/backend/test_vllm_stream.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...core.errors import GenerationFailed, Overloaded
from ...core.types import LoadStats
from ..base import BackendFinish, BackendJob
from .mapping import prompt_raw_logprobs, raw_logprob

log = logging.getLogger(__name__)

# vLLM's finish reasons (when vLLM ends a request before our rules do) as ours.
_FINISH = {"stop": "eos", "length": "length", "abort": "cancelled"}


@dataclass
class _Running:
    job: BackendJob
    request_id: str
    generated: int = 0
    started: bool = False
    done: bool = False
    task: asyncio.Task[None] | None = None


class JobRunner:
    """Runs jobs on one engine on one event loop (`loop`, running in the backend's thread).

    `submit`/`cancel`/`stats`/`close` are called from any thread; everything else runs on `loop`.
    """

    def __init__(
        self,
        engine: Any,
        loop: asyncio.AbstractEventLoop,
        *,
        make_request: Callable[[BackendJob], tuple[Any, Any]],
        is_eog: Callable[[int], bool],
        piece: Callable[[int], bytes],
        classify: Callable[[Exception], Exception],
        context: int,
        slots: int,
        max_queue: int,
    ) -> None:
        self.engine = engine
        self.loop = loop
        self.make_request = make_request
        self.is_eog = is_eog
        self.piece = piece
        self.classify = classify
        self.context = context
        self.slots = slots
        self.max_queue = max_queue
        self.kv_usage = 0.0  # fraction of the KV cache in use, from vLLM's per-step stats
        self.kv_capacity = 0  # tokens the KV cache holds (blocks x block size), once known
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}  # by id(job); insertion order: submission order
        self._ids = itertools.count()
        self._closing = False

    # -- any thread ------------------------------------------------------------------------------

    def submit(self, job: BackendJob) -> None:
        with self._lock:
            if self._closing:
                raise Overloaded("the server is shutting down")
            # vLLM has no bound on its waiting queue: ours is the jobs past the `slots` it runs at once.
            if len(self._running) >= self.slots + self.max_queue:
                raise Overloaded(f"the request queue is full ({self.max_queue} waiting); retry shortly")
            run = _Running(job, f"lazarus-{next(self._ids)}")
            self._running[id(job)] = run
        self.loop.call_soon_threadsafe(self._start, run)

    def cancel(self, job: BackendJob) -> None:
        job.cancelled = True
        with self._lock:
            run = self._running.get(id(job))
        if run is not None:
            self.loop.call_soon_threadsafe(self._cancel, run)

    def stats(self) -> LoadStats:
        with self._lock:
            jobs = len(self._running)
        active = min(jobs, self.slots)
        return LoadStats(
            active=active,
            queued=jobs - active,
            slots=self.slots,
            max_queue=self.max_queue,
            kv_tokens=round(self.kv_usage * self.kv_capacity),
            kv_capacity=self.kv_capacity,
        )

    async def drain(self) -> None:
        """On `loop`: end every job with "shutdown" (their vLLM requests aborted), and refuse new ones."""
        with self._lock:
            self._closing = True
            runs = list(self._running.values())
        for run in runs:
            if run.task is not None:
                run.task.cancel()
        tasks = [run.task for run in runs if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for run in runs:  # jobs whose task never ran (submitted just before close)
            self._finish(run, "shutdown")

    # -- on the loop -----------------------------------------------------------------------------

    def _start(self, run: _Running) -> None:
        if run.done:
            return
        run.task = self.loop.create_task(self._run(run))
        # A task cancelled before its first step never enters `_run`: end its job here instead.
        run.task.add_done_callback(lambda _task: self._finish(run, self._cancel_reason(run)))

    def _cancel(self, run: _Running) -> None:
        if run.task is not None and not run.task.done():
            run.task.cancel()

    def _cancel_reason(self, run: _Running) -> BackendFinish:
        return "cancelled" if run.job.cancelled and not self._closing else "shutdown"

    async def _run(self, run: _Running) -> None:
        job = run.job
        if job.cancelled:
            self._finish(run, "cancelled")
            return
        reason: BackendFinish | None = None
        try:
            prompt, params = self.make_request(job)
            stream = self.engine.generate(prompt, params, run.request_id)
            try:
                async for output in stream:
                    reason = self._feed(run, output)
                    if reason is not None:
                        break
            finally:
                # Closing the generator early aborts the request in vLLM (its GeneratorExit handler).
                await stream.aclose()
        except asyncio.CancelledError:
            self._finish(run, self._cancel_reason(run))
            return
        except Exception as exc:  # noqa: BLE001 - a bad request or a dead engine fails this job alone
            self._fail(run, self.classify(exc))
            return
        self._finish(run, reason or ("cancelled" if job.cancelled else "length"))

    def _feed(self, run: _Running, output: Any) -> BackendFinish | None:
        """Deliver one DELTA output to the job's sink; the finish reason once the job is over."""
        job = run.job
        sink = job.sink
        if not run.started:
            run.started = True
            sink.on_admitted()
            if job.prompt_logprobs is not None:
                positions = getattr(output, "prompt_logprobs", None) or []
                sink.on_prompt_logprobs(prompt_raw_logprobs(positions, job.prompt_tokens, job.prompt_logprobs))
            sink.on_prompt_done(int(getattr(output, "num_cached_tokens", 0) or 0))
            if job.max_tokens <= 0:  # only the prompt was wanted (scoring it): the token is dropped
                return "length"
        if job.cancelled:
            return "cancelled"
        completion = output.outputs[0]
        logprobs = completion.logprobs if job.logprobs is not None else None
        for index, token in enumerate(completion.token_ids):
            run.generated += 1
            if self.is_eog(token):
                return "eos"
            logprob = None
            if logprobs is not None and index < len(logprobs):
                logprob = raw_logprob(logprobs[index], token, job.logprobs or 0)
            if not sink.on_token(token, self.piece(token), logprob):
                return "stopped"
            if run.generated >= job.max_tokens or len(job.prompt_tokens) + run.generated >= self.context:
                return "length"
        if output.finished:
            finish = completion.finish_reason
            if finish == "error":
                raise GenerationFailed("generation failed inside vLLM")
            return _FINISH.get(str(finish), "length")  # type: ignore[return-value]
        return None

    def _finish(self, run: _Running, reason: BackendFinish) -> None:
        if self._settle(run):
            try:
                run.job.sink.on_finish(reason, run.generated)
            except Exception:  # a sink whose event loop is gone: the job is over anyway
                log.exception("a request's sink failed")

    def _fail(self, run: _Running, error: Exception) -> None:
        if self._settle(run):
            try:
                run.job.sink.on_error(error)
            except Exception:
                log.exception("a request's sink failed")

    def _settle(self, run: _Running) -> bool:
        """Mark `run` over (once); whether this call did."""
        with self._lock:
            if run.done:
                return False
            run.done = True
            self._running.pop(id(run.job), None)
        return True
