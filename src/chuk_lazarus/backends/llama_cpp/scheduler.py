"""Continuous batching over llama.cpp: every active sequence advances in one `llama_decode` per step.

One worker thread owns the `llama_context`. Each step it
  1. admits queued jobs into free slots (a slot is a KV-memory sequence id), reusing the longest
     prefix of the new prompt held in *any* slot's memory (prefix_cache.py), or deferring a job while
     another slot is still prefilling a long prefix it shares;
  2. builds one batch: one token for each decoding sequence, then prompt chunks for prefilling
     sequences up to the batch budget (so long prompts never stall running streams);
  3. decodes it, samples each sequence that produced logits with its own sampler (plain greedy
     sequences together, with one argmax over the step's logits), and hands the token to the job's
     sink, which may end the sequence (stop string) — or the job may have been cancelled.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass, field

import llama_cpp as C
import numpy as np

from ...engine.delivery import batched_delivery
from ...engine.errors import GenerationFailed
from ..admission import AdmissionQueue
from ..base import BackendFinish, BackendJob, RawLogprob
from .batch import Batch
from .model import LlamaModel
from .prefix_cache import Defer, place
from .sampler import SequenceSampler

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose K/V are in memory for seq_id
    job: BackendJob | None = None
    sampler: SequenceSampler | None = None  # None for plain greedy: argmax, no chain needed
    pending: list[int] = field(default_factory=list)  # prompt tokens still to prefill
    next_token: int | None = None  # sampled, not yet decoded
    generated: int = 0
    reused: int = 0  # prompt tokens of the current job found already in memory
    batch_index: int = -1  # where this slot's logits are in the current batch, or -1
    output_row: int = -1  # the row of those logits among the step's outputs
    last_used: int = 0

    @property
    def busy(self) -> bool:
        return self.job is not None


def _plain_greedy(job: BackendJob) -> bool:
    s = job.sampling
    return (
        s.greedy
        and not job.grammar
        and not s.logit_bias
        and s.repeat_penalty == 1.0
        and not s.frequency_penalty
        and not s.presence_penalty
    )


class Scheduler(AdmissionQueue):
    def __init__(
        self,
        model: LlamaModel,
        *,
        n_ctx_per_seq: int,
        n_parallel: int,
        n_threads: int,
        n_batch: int,
        max_queue: int,
    ) -> None:
        super().__init__(max_queue)
        self.model = model
        self.n_ctx_per_seq = n_ctx_per_seq
        self.n_batch = n_batch
        params = C.llama_context_default_params()
        params.n_ctx = n_ctx_per_seq * n_parallel
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_parallel
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        # One KV stream per sequence: a sequence's cells always sit in position order at the same
        # indices, so its floats do not depend on what else is batched with it (a unified pool
        # interleaves sequences, which changes summation order and makes seeded sampling drift).
        params.kv_unified = False
        params.no_perf = True
        self.ctx = C.llama_init_from_model(model.handle, params)
        if not self.ctx:
            raise GenerationFailed("llama.cpp could not create a context (out of memory?)")
        self.memory = C.llama_get_memory(self.ctx)
        self.batch = Batch(n_batch)
        self.slots = [_Slot(seq_id=i) for i in range(n_parallel)]
        self.steps = 0
        self.thread = threading.Thread(target=self._run, name="lazarus-llama-cpp", daemon=True)
        self.thread.start()

    # -- called from any thread -----------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        # Read without the lock: /health must never wait for a step, and approximate counts are fine.
        return {
            "active": sum(1 for s in self.slots if s.busy),
            "queued": len(self.queue),
            "slots": len(self.slots),
            "max_queue": self.max_queue,
        }

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify()
        self.thread.join(timeout=30)
        C.llama_free(self.ctx)
        self.ctx = None

    # -- the worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.closing and not self.queue and not any(s.busy for s in self.slots):
                    self.cond.wait()
                if self.closing:
                    break
                self._admit_locked()
            try:
                self._step()
            except Exception as exc:  # a failed decode fails the sequences in it, never the thread
                log.exception("decode step failed")
                for slot in self.slots:
                    if slot.busy:
                        self._fail(slot, GenerationFailed(f"generation failed: {exc}"))
        for slot in self.slots:
            if slot.busy:
                self._end(slot, "cancelled")
        while self.queue:
            self.queue.popleft().sink.on_finish("cancelled", 0)

    def _admit_locked(self) -> None:
        waiting: list[BackendJob] = []  # deferred behind a prefilling leader; keep their order
        while self.queue:
            job = self.queue[0]
            if job.cancelled:
                self.queue.popleft()
                job.sink.on_finish("cancelled", 0)
                continue
            placement = place(job.prompt_tokens, self.slots)
            if placement is None:  # no free slot
                break
            self.queue.popleft()
            if isinstance(placement, Defer):
                waiting.append(job)
                continue
            self._start(job, placement.slot, placement.reuse, placement.source)  # type: ignore[arg-type]
        self.queue.extendleft(reversed(waiting))

    def _start(self, job: BackendJob, slot: _Slot, reuse: int, source: _Slot | None) -> None:
        if source is not None:
            # Across streams llama.cpp copies a whole sequence (a buffer copy at the next decode);
            # then the part past the shared prefix is dropped.
            C.llama_memory_seq_cp(self.memory, source.seq_id, slot.seq_id, -1, -1)
            C.llama_memory_seq_rm(self.memory, slot.seq_id, reuse, -1)
            slot.cached = source.cached[:reuse]
        elif not C.llama_memory_seq_rm(self.memory, slot.seq_id, reuse, -1):
            # Some memories (recurrent models) cannot drop a tail: start this sequence afresh.
            C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            reuse = 0
        del slot.cached[reuse:]
        try:
            slot.sampler = (
                None
                if _plain_greedy(job)
                else SequenceSampler(
                    self.model.vocab,
                    self.model.n_vocab,
                    job.sampling,
                    job.grammar,
                    job.grammar_triggers,
                    self.model.piece,
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported to this request, the worker goes on
            job.sink.on_error(exc)
            return
        slot.job = job
        slot.pending = list(job.prompt_tokens[reuse:])
        slot.next_token = None
        slot.generated = 0
        slot.reused = reuse

    def _step(self) -> None:
        batch = self.batch
        batch.clear()
        active: list[_Slot] = []
        for slot in self.slots:
            slot.batch_index = slot.output_row = -1
            if slot.busy and slot.job is not None and slot.job.cancelled:
                self._end(slot, "cancelled")
        # Decoding sequences first: one token each, so streams keep flowing while prompts prefill.
        for slot in self.slots:
            if slot.busy and slot.next_token is not None and batch.room:
                slot.batch_index = batch.n
                slot.output_row = batch.add([slot.next_token], len(slot.cached), slot.seq_id, True)
                slot.cached.append(slot.next_token)
                slot.next_token = None
                active.append(slot)
        for slot in self.slots:
            if slot.busy and slot.pending and batch.room:
                take = min(len(slot.pending), batch.room)
                chunk, slot.pending = slot.pending[:take], slot.pending[take:]
                last = not slot.pending
                row = batch.add(chunk, len(slot.cached), slot.seq_id, last)
                slot.cached.extend(chunk)
                if last:
                    slot.batch_index, slot.output_row = batch.n - 1, row
                    active.append(slot)
        if batch.n == 0:
            return
        rc = C.llama_decode(self.ctx, batch.ready())
        self.steps += 1
        if rc != 0:
            raise GenerationFailed(f"llama_decode returned {rc}")
        greedy: np.ndarray | None = None
        if any(s.sampler is None for s in active):
            logits_ptr = C.llama_get_logits(self.ctx)
            logits = np.ctypeslib.as_array(
                ctypes.cast(logits_ptr, ctypes.POINTER(ctypes.c_float)),
                shape=(batch.n_outputs, self.model.n_vocab),
            )
            greedy = logits.argmax(axis=1)
        with batched_delivery():  # one event-loop wake-up per step, not one per token
            self._sample_all(active, greedy)

    def _sample_all(self, active: list[_Slot], greedy: np.ndarray | None) -> None:
        for slot in active:
            if slot.busy:
                if slot.sampler is None:
                    assert greedy is not None
                    token = int(greedy[slot.output_row])
                else:
                    token = slot.sampler.sample(self.ctx, slot.batch_index)
                try:
                    self._emit(slot, token)
                except Exception as exc:  # a broken sink (its event loop closed) ends only its own job
                    log.exception("token delivery failed")
                    self._fail(slot, GenerationFailed(f"generation failed: {exc}"))

    def _emit(self, slot: _Slot, token: int) -> None:
        job = slot.job
        assert job is not None
        if slot.generated == 0:
            job.sink.on_prompt_done(slot.reused)
        logprob = self._logprob(slot.batch_index, token, job.logprobs) if job.logprobs is not None else None
        slot.generated += 1
        if self.model.is_eog(token):
            self._end(slot, "eos")
            return
        keep_going = job.sink.on_token(token, self.model.piece(token), logprob)
        if not keep_going:
            self._end(slot, "stopped")
        elif slot.generated >= job.max_tokens or len(slot.cached) + 1 >= self.n_ctx_per_seq:
            self._end(slot, "length")
        else:
            slot.next_token = token

    def _logprob(self, index: int, token: int, top_n: int) -> RawLogprob:
        logits_ptr = C.llama_get_logits_ith(self.ctx, index)
        logits = np.ctypeslib.as_array(
            ctypes.cast(logits_ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.model.n_vocab,)
        ).astype(np.float64)
        peak = logits.max()
        logz = peak + np.log(np.exp(logits - peak).sum())
        top: tuple[tuple[int, float], ...] = ()
        if top_n > 0:
            best = np.argpartition(-logits, top_n)[:top_n]
            best = best[np.argsort(-logits[best])]
            top = tuple((int(t), float(logits[t] - logz)) for t in best)
        return RawLogprob(float(logits[token] - logz), top)

    def _end(self, slot: _Slot, reason: BackendFinish) -> None:
        job, generated = slot.job, slot.generated
        self._release(slot)
        if job is not None:
            job.sink.on_finish(reason, generated)

    def _fail(self, slot: _Slot, error: Exception) -> None:
        job = slot.job
        # After a failed decode the memory of this sequence is unknown: forget it entirely.
        C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        slot.cached.clear()
        self._release(slot)
        if job is not None:
            try:
                job.sink.on_error(error)
            except Exception:
                log.exception("could not report a failed generation")

    def _release(self, slot: _Slot) -> None:
        # A prefill that never finished leaves a partial prompt in memory: still a valid prefix.
        slot.pending = []
        if slot.sampler is not None:
            slot.sampler.close()
        slot.sampler = None
        slot.job = None
        slot.next_token = None
        slot.batch_index = slot.output_row = -1
        slot.last_used = self.steps
