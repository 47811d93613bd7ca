"""llama.cpp's step of continuous batching: every active sequence advances in one `llama_decode`.

The shared `Scheduler` (backends/scheduler.py) admits, finishes and delivers; this owns the
`llama_context` and, on the scheduler's worker thread,
  1. places a job in a free slot (a slot is a KV-memory sequence id), reusing the longest prefix of
     its prompt held in *any* slot's memory (prefix_cache.py), or defers it while another slot is
     still prefilling a long prefix it shares;
  2. builds one batch per step: one token for each decoding sequence, then prompt chunks for
     prefilling sequences up to the batch budget (so long prompts never stall running streams);
  3. decodes it and samples each sequence that produced logits with its own sampler (plain greedy
     sequences together, with one argmax over the step's logits). When a sequence's constraint then
     forces the next tokens (fast-forward), they go in its next batch entry after the sampled token,
     all at once (a small prefill, logits for the last only), and are delivered with the sampled one.

Beyond the slots, a host-RAM cache (host_cache.py) keeps the state of a slot whose prompt is about to
be overwritten, and restores it into a slot when a later prompt shares more of it than any slot holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import llama_cpp as C
import numpy as np

from ...core.errors import GenerationFailed
from ..base import BackendJob, RawLogprob
from ..guidance import ConstraintCompiler
from ..scheduler import Placed, Sampled, Wait
from .batch import Batch
from .host_cache import MIN_TOKENS, HostCache
from .model import LlamaModel
from .prefix_cache import Defer, place
from .sampler import SequenceSampler

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose K/V are in memory for seq_id
    job: BackendJob | None = None
    sampler: SequenceSampler | None = None  # None for plain greedy: argmax, no chain needed
    pending: list[int] = field(default_factory=list)  # prompt tokens still to prefill
    next_token: int | None = None  # sampled, not yet decoded
    forced: list[int] = field(
        default_factory=list
    )  # forced by the constraint after next_token, not yet decoded
    batch_index: int = -1  # where this slot's logits are in the current batch, or -1
    output_row: int = -1  # the row of those logits among the step's outputs
    last_used: int = 0

    @property
    def busy(self) -> bool:
        return self.job is not None


class LlamaStepper:
    """The `Stepper` for one `llama_context` of `parallel` sequences of `ctx_size` tokens each."""

    def __init__(
        self,
        model: LlamaModel,
        *,
        ctx_size: int,
        parallel: int,
        threads: int,
        batch_size: int,
        cache_ram_bytes: int = 0,
        constraints: ConstraintCompiler | None = None,
    ) -> None:
        self.model = model
        self.constraints = constraints
        self.host_cache = HostCache(cache_ram_bytes)
        params = C.llama_context_default_params()
        params.n_ctx = ctx_size * parallel
        params.n_batch = batch_size
        params.n_ubatch = batch_size
        params.n_seq_max = parallel
        params.n_threads = threads
        params.n_threads_batch = threads
        # One KV stream per sequence: a sequence's cells always sit in position order at the same
        # indices, so its floats do not depend on what else is batched with it (a unified pool
        # interleaves sequences, which changes summation order and makes seeded sampling drift).
        params.kv_unified = False
        params.no_perf = True
        self.ctx = C.llama_init_from_model(model.handle, params)
        if not self.ctx:
            raise GenerationFailed("llama.cpp could not create a context (out of memory?)")
        self.memory = C.llama_get_memory(self.ctx)
        self.batch = Batch(batch_size)
        self.slots = [Slot(seq_id=i) for i in range(parallel)]
        self.decodes = 0  # a clock for least-recently-used slot choice

    def close(self) -> None:
        """Free the context; only once the worker thread is gone."""
        if self.ctx:
            C.llama_free(self.ctx)
            self.ctx = None

    # -- the Stepper interface ------------------------------------------------------------------

    def worker(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def place(self, job: BackendJob) -> Placed[Slot] | Wait:
        placement = place(job.prompt_tokens, self.slots)
        if placement is None:
            return Wait.NO_ROOM
        if isinstance(placement, Defer):
            return Wait.DEFER
        slot, source = placement.slot, placement.source
        assert isinstance(slot, Slot) and (source is None or isinstance(source, Slot))
        # What the slot holds past the part this prompt keeps is about to go: keep it in RAM first.
        self._save(slot, keep=placement.reuse if source is None else 0)
        reuse = self._reuse(slot, placement.reuse, source)
        reuse = self._restore(slot, job.prompt_tokens, reuse)
        # Plain greedy rows share one argmax; anything else gets its own chain (and constraint).
        slot.sampler = None
        if not (job.sampling.plain_greedy and job.constraint is None):
            guide = None
            if job.constraint is not None:
                assert self.constraints is not None, "a constrained job reached a stepper without a compiler"
                guide = self.constraints.guide(job.constraint, self.model.piece)
            slot.sampler = SequenceSampler(self.model.n_vocab, job.sampling, guide)
        slot.job = job
        slot.pending = list(job.prompt_tokens[reuse:])
        slot.next_token = None
        slot.forced = []
        return Placed(slot, reuse)

    def step(self) -> list[Sampled[Slot]]:
        active = self._fill_batch()
        if self.batch.n == 0:
            return []
        rc = C.llama_decode(self.ctx, self.batch.ready())
        self.decodes += 1
        if rc != 0:
            raise GenerationFailed(f"llama_decode returned {rc}")
        greedy: np.ndarray | None = None
        if any(s.sampler is None for s in active):
            greedy = self._logits(C.llama_get_logits(self.ctx), self.batch.n_outputs).argmax(axis=1)
        sampled: list[Sampled[Slot]] = []
        for slot in active:
            assert slot.job is not None
            if slot.sampler is None:
                assert greedy is not None
                token = int(greedy[slot.output_row])
            else:
                token = slot.sampler.sample(self.ctx, slot.batch_index)
            top_n = slot.job.logprobs
            logprob = self._logprob(slot.batch_index, token, top_n) if top_n is not None else None
            slot.next_token = token
            # Logprobs are reported per token, and forced tokens have none: no fast-forward with them.
            if slot.sampler is not None and top_n is None:
                slot.forced = slot.sampler.forced()
            sampled.append(Sampled(slot, token, logprob, tuple(slot.forced)))
        return sampled

    def release(self, seq: Slot) -> None:
        # A prefill that never finished leaves a partial prompt in memory: still a valid prefix.
        seq.pending = []
        if seq.sampler is not None:
            seq.sampler.close()
        seq.sampler = None
        seq.job = None
        seq.next_token = None
        seq.forced = []
        seq.batch_index = seq.output_row = -1
        seq.last_used = self.decodes

    def reset(self) -> None:
        for slot in self.slots:
            if slot.busy:
                # After a failed decode the memory of this sequence is unknown: forget it entirely.
                C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
                slot.cached.clear()
                self.release(slot)

    def is_eog(self, token: int) -> bool:
        return self.model.is_eog(token)

    def piece(self, token: int) -> bytes:
        return self.model.piece(token)

    # -- helpers --------------------------------------------------------------------------------

    def _reuse(self, slot: Slot, reuse: int, source: Slot | None) -> int:
        """Make `slot`'s memory hold the first `reuse` prompt tokens; how many it really holds."""
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
        return reuse

    def _save(self, slot: Slot, *, keep: int) -> None:
        """Copy the slot's sequence state into the host cache, if enough of it is about to be lost."""
        cache = self.host_cache
        if len(slot.cached) - keep < MIN_TOKENS or not cache.wants(slot.cached):
            return
        size = C.llama_state_seq_get_size(self.ctx, slot.seq_id)
        if size <= 0 or size > cache.max_bytes:
            return
        state = (ctypes.c_uint8 * size)()
        written = C.llama_state_seq_get_data(self.ctx, state, size, slot.seq_id)
        if written != size:
            log.warning("could not save a sequence state (%d of %d bytes)", written, size)
            return
        cache.put(slot.cached, state)

    def _restore(self, slot: Slot, prompt: list[int], reuse: int) -> int:
        """Restore the host entry sharing the most of `prompt`, when it beats what `slot` holds now;
        the number of prompt tokens in memory afterwards."""
        entry, shared = self.host_cache.best(prompt, limit=len(prompt) - 1)
        if entry is None or shared < reuse + MIN_TOKENS:
            return reuse
        C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        if C.llama_state_seq_set_data(self.ctx, entry.state, len(entry.state), slot.seq_id) == 0:
            log.warning("could not restore a cached sequence state; computing the prompt instead")
            C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            slot.cached.clear()
            return 0
        C.llama_memory_seq_rm(self.memory, slot.seq_id, shared, -1)
        slot.cached = list(entry.tokens[:shared])
        self.host_cache.touch(entry)
        return shared

    def _fill_batch(self) -> list[Slot]:
        """This step's batch; the slots that get logits (and so a sampled token), in batch order."""
        batch = self.batch
        batch.clear()
        active: list[Slot] = []
        for slot in self.slots:
            slot.batch_index = slot.output_row = -1
        # Decoding sequences first: one token each (with the tokens forced after it), so streams keep
        # flowing while prompts prefill.
        for slot in self.slots:
            if slot.busy and slot.next_token is not None and batch.room:
                run, slot.next_token, slot.forced = [slot.next_token, *slot.forced], None, []
                if len(run) > batch.room:  # a forced run longer than the room: the rest goes as a prefill
                    run, slot.pending = run[: batch.room], run[batch.room :]
                    batch.add(run, len(slot.cached), slot.seq_id, False)
                    slot.cached.extend(run)
                    continue
                slot.output_row = batch.add(run, len(slot.cached), slot.seq_id, True)
                slot.batch_index = batch.n - 1
                slot.cached.extend(run)
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
        return active

    def _logits(self, pointer: ctypes._Pointer[ctypes.c_float], rows: int) -> np.ndarray:
        """A (rows, n_vocab) view of logits llama.cpp owns, valid until the next decode."""
        return np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(rows, self.model.n_vocab)
        )

    def _logprob(self, index: int, token: int, top_n: int) -> RawLogprob:
        logits = self._logits(C.llama_get_logits_ith(self.ctx, index), 1)[0].astype(np.float64)
        peak = logits.max()
        logz = peak + np.log(np.exp(logits - peak).sum())
        top: tuple[tuple[int, float], ...] = ()
        if top_n > 0:
            best = np.argpartition(-logits, top_n)[:top_n]
            best = best[np.argsort(-logits[best])]
            top = tuple((int(t), float(logits[t] - logz)) for t in best)
        return RawLogprob(float(logits[token] - logz), top)
