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

Speculative decoding by prompt lookup (backends/ngram.py): a sequence whose last tokens occurred
earlier in its own text feeds the tokens that followed them then as a draft after its sampled token.
All of them get logits in the one decode; the sampler then picks each next token as it always would,
and the draft is kept only as far as it agrees. So every token comes from the same sampler on the same
logits as without drafting (greedy output identical, sampling unchanged in distribution), and a step
can emit several tokens for one sequence. How much of each draft goes in is planned per step
(backends/draft_plan.py): a drafted token must be expected to yield more than the time it adds to the
decode, which is measured once at load (calibrate.py).

Beyond the slots, a host-RAM cache (host_cache.py) keeps the state of a slot whose prompt is about to
be overwritten, and restores it into a slot when a later prompt shares more of it than any slot holds.
A slot and its cache entry also keep the logits at the end of their prompt: a later job with exactly
that prompt (a retry, the same question again) takes its first token from them at placement, with no
decode.

llama.cpp makes one pass over the weights per run of consecutive sequence ids (ubatch.py), so a batch
is laid out in id order, and idle sequences in the holes between busy ones get a throwaway token when
that saves a pass (fillers.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import llama_cpp as C
import numpy as np

from ...core.errors import GenerationFailed
from ..base import BackendJob, RawLogprob
from ..draft_plan import StepCost
from ..guidance import ConstraintCompiler
from ..ngram import NgramDrafter
from ..scheduler import Placed, Sampled, Wait
from .batch import Batch
from .calibrate import measure_step_cost
from .disk_cache import DiskCache
from .drafting import plan_step_drafts
from .fillers import plan_fillers
from .host_cache import HostCache, PromptEnd
from .logprobs import prompt_logprobs, row_logprob
from .model import LlamaModel
from .prefix_cache import Defer, place
from .sampler import SequenceSampler
from .slot import Slot, ends_prompt
from .slot_memory import SlotMemory

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Speculation:
    """Prompt-lookup drafting: at most `draft_max` tokens after an `ngram`-token match (0: off)."""

    draft_max: int = 0
    ngram: int = 3


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
        speculation: Speculation = Speculation(),
        disk_cache: DiskCache | None = None,
        constraints: ConstraintCompiler | None = None,
    ) -> None:
        self.model = model
        self.constraints = constraints
        self.disk_cache = disk_cache
        self.ctx_size = ctx_size
        self.speculation = speculation
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
        self.slot_memory = SlotMemory(self.ctx, self.host_cache, disk_cache)
        self.batch = Batch(batch_size)
        self.slots = [Slot(seq_id=i) for i in range(parallel)]
        self.decodes = 0  # a clock for least-recently-used slot choice
        self.drafted = self.draft_accepted = 0  # totals over the stepper's life: how well drafts pay
        self.step_cost: StepCost | None = None  # what a decode costs by batch size; see worker()
        self._filled: list[int] = []  # idle sequences given a throwaway token in this step's batch
        self.filled = 0  # such tokens over the stepper's life, for benchmarks

    def close(self) -> None:
        """Free the context; only once the worker thread is gone."""
        if self.ctx:
            if self.disk_cache is not None:
                # What the slots still hold is on disk only if it was ever evicted: keep it for the
                # next run (the disk tier's point), then let the writer finish.
                for slot in self.slots:
                    self.slot_memory.save(slot, keep=0)
            C.llama_free(self.ctx)
            self.ctx = None
        if self.disk_cache is not None:
            self.disk_cache.close()

    # -- the Stepper interface ------------------------------------------------------------------

    @contextlib.contextmanager
    def worker(self) -> Iterator[None]:
        # The decode cost prices drafts and fillers. Timed here, on the worker thread, before any job:
        # llama.cpp's CPU threads are an OpenMP team per calling thread, and a second team (a decode
        # from the loading thread) left spinning beside the worker's made every later decode ~1.6x
        # slower (measured).
        try:
            self.step_cost = measure_step_cost(self.ctx, self.batch, self.slots[0].seq_id, self.model.n_vocab)
        except Exception:  # never the worker's end: serve without drafting and fillers instead
            log.exception("could not time the context's decode; prompt-lookup drafting and fillers are off")
            C.llama_memory_seq_rm(self.memory, self.slots[0].seq_id, -1, -1)
        else:
            if self.step_cost is None and self.speculation.draft_max:
                log.warning("--batch-size is too small to time a draft; prompt-lookup drafting is off")
        yield

    def place(self, job: BackendJob) -> Placed[Slot] | Wait:
        placement = place(job.prompt_tokens, self.slots)
        if placement is None:
            return Wait.NO_ROOM
        if isinstance(placement, Defer):
            return Wait.DEFER
        slot, source = placement.slot, placement.source
        assert isinstance(slot, Slot) and (source is None or isinstance(source, Slot))
        scored = job.prompt_logprobs is not None
        if scored:  # every prompt position's logits are needed, so none of it comes from a cache
            placement, source = dataclasses.replace(placement, reuse=0, source=None), None
        prompt = job.prompt_tokens
        keep = placement.reuse
        if not scored and ends_prompt(source or slot, prompt):
            keep = len(prompt)  # all of it, and its first token from the logits kept at its end
        stored = None if scored or slot.copy_pending else self.slot_memory.stored(prompt, keep)
        # What the slot holds past the part this prompt keeps is about to go: keep it in RAM first.
        self.slot_memory.save(slot, keep=keep if source is None and stored is None else 0)
        if stored is not None:
            # Never a copy from another slot under a restore: across KV streams llama.cpp copies at
            # the next decode, over whatever was restored meanwhile.
            reuse = self.slot_memory.restore(slot, stored)
        else:
            reuse = self.slot_memory.reuse(slot, keep, source)
        if reuse == len(prompt) and not ends_prompt(slot, prompt):  # never expected: rather decode it than hang
            reuse = self.slot_memory.reuse(slot, len(prompt) - 1, None)
        slot.prompt_lps = [] if scored else None
        # Plain greedy rows share one argmax; anything else gets its own chain (and constraint).
        slot.sampler = None
        if not (job.sampling.plain_greedy and job.constraint is None):
            guide = None
            if job.constraint is not None:
                assert self.constraints is not None, "a constrained job reached a stepper without a compiler"
                # Special tokens written out, as the transformers vocabulary renders them: a reasoning
                # gate matches markup such as gpt-oss's `<|channel|>…` as text.
                guide = self.constraints.guide(job.constraint, self._rendered)
            slot.sampler = SequenceSampler(self.model.n_vocab, job.sampling, guide)
        slot.job = job
        slot.pending = list(job.prompt_tokens[reuse:])
        slot.next_token = None
        slot.forced = []
        slot.generated = 0
        slot.drafter = None
        if self.speculation.draft_max:
            slot.drafter = NgramDrafter(self.speculation.ngram)
            slot.drafter.extend(job.prompt_tokens, score=False)
        if reuse == len(prompt):  # all of it, with the logits at its end (checked above)
            return Placed(slot, reuse, first=self._first_from_kept(slot))
        return Placed(slot, reuse)

    def _first_from_kept(self, slot: Slot) -> tuple[int, RawLogprob | None]:
        """The first token of a prompt seen before, sampled from the logits kept at its end, as a
        decode of its last token would have given them. It is fed at the next step like any sampled
        token (a constraint's forced run after it is left to the steps: no fast-forward here)."""
        job, end = slot.job, slot.prompt_end
        assert job is not None and end is not None
        row = end.logits
        token = int(row.argmax()) if slot.sampler is None else slot.sampler.sample_row(row)
        logprob = row_logprob(row, token, job.logprobs) if job.logprobs is not None else None
        slot.next_token = token
        slot.generated = 1
        if slot.drafter is not None:
            slot.drafter.extend([token])
        return token, logprob

    def step(self) -> list[Sampled[Slot]]:
        active = self._fill_batch()
        if self.batch.n == 0:
            return []
        rc = C.llama_decode(self.ctx, self.batch.ready())
        for slot in self.slots:
            slot.copy_pending = False  # made by this decode
        for seq_id in self._filled:  # what a filler wrote goes again, whether the decode worked or not
            C.llama_memory_seq_rm(self.memory, seq_id, len(self.slots[seq_id].cached), -1)
        self.filled += len(self._filled)
        self.decodes += 1
        if rc != 0:
            raise GenerationFailed(f"llama_decode returned {rc}")
        greedy: np.ndarray | None = None
        if any(s.sampler is None for s in active):
            greedy = self._logits(C.llama_get_logits(self.ctx), self.batch.n_outputs).argmax(axis=1)
        for slot in self.slots:
            if slot.scoring is not None and slot.prompt_lps is not None and slot.job is not None:
                first, targets = slot.scoring
                rows = self._logits(C.llama_get_logits(self.ctx), self.batch.n_outputs)[first : first + len(targets)]
                slot.prompt_lps += prompt_logprobs(rows, targets, slot.job.prompt_logprobs or 0)
                slot.scoring = None
        sampled: list[Sampled[Slot]] = []
        for slot in active:
            job = slot.job
            assert job is not None
            # Position j of the run: the logits after the sampled token (j = 0) and after each drafted
            # token. The draft holds as far as the sampler's own picks agree with it.
            tokens: list[int] = []
            if slot.generated == 0:  # its prompt's end: kept for a later job with the same prompt
                row = self._logits(C.llama_get_logits_ith(self.ctx, slot.batch_index), 1)[0]
                slot.prompt_end = PromptEnd(tuple(slot.cached), row.copy())
            for j in range(len(slot.draft) + 1):
                if slot.sampler is None:
                    assert greedy is not None
                    token = int(greedy[slot.output_row + j])
                else:
                    token = slot.sampler.sample(self.ctx, slot.batch_index + j)
                top_n = job.logprobs
                logprob = self._logprob(slot.batch_index + j, token, top_n) if top_n is not None else None
                tokens.append(token)
                # A scored prompt's logprobs go with its first token (no draft follows a prefill).
                scored = tuple(slot.prompt_lps) if slot.prompt_lps is not None else None
                slot.prompt_lps = None
                sampled.append(Sampled(slot, token, logprob, prompt_logprobs=scored))
                if j == len(slot.draft) or token != slot.draft[j] or self.model.is_eog(token):
                    break
            if slot.draft:
                self._settle_draft(slot, accepted=len(tokens) - 1)
            slot.next_token = tokens[-1]
            # Logprobs are reported per token, and forced tokens have none: no fast-forward with them.
            if slot.sampler is not None and job.logprobs is None:
                slot.forced = slot.sampler.forced()
                if slot.forced:
                    sampled[-1] = dataclasses.replace(sampled[-1], forced=tuple(slot.forced))
            slot.generated += len(tokens) + len(slot.forced)
            if slot.drafter is not None:
                slot.drafter.extend(tokens)  # the sampler's picks: they score the lookup's guesses
                slot.drafter.extend(slot.forced, score=False)  # the constraint's, not the text's
        return sampled

    def _settle_draft(self, slot: Slot, *, accepted: int) -> None:
        """Keep the first `accepted` drafted tokens in memory, drop the rest."""
        drafted = len(slot.draft)
        self.drafted += drafted
        self.draft_accepted += accepted
        if accepted < drafted:
            keep = len(slot.cached) - (drafted - accepted)
            C.llama_memory_seq_rm(self.memory, slot.seq_id, keep, -1)
            del slot.cached[keep:]
        slot.draft = []

    def release(self, seq: Slot) -> None:
        # A prefill that never finished leaves a partial prompt in memory: still a valid prefix.
        seq.pending = []
        if seq.sampler is not None:
            seq.sampler.close()
        seq.sampler = None
        seq.job = None
        seq.next_token = None
        seq.forced = []
        seq.drafter = None
        seq.draft = []
        seq.prompt_lps = seq.scoring = None
        seq.batch_index = seq.output_row = -1
        seq.last_used = self.decodes

    def reset(self) -> None:
        for slot in self.slots:
            if slot.busy:
                # After a failed decode the memory of this sequence is unknown: forget it entirely.
                C.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
                slot.cached.clear()
                slot.copy_pending = False
                self.release(slot)

    def is_eog(self, token: int) -> bool:
        return self.model.is_eog(token)

    def piece(self, token: int) -> bytes:
        return self.model.piece(token)

    def prompt_cache(self) -> tuple[int, int, int]:
        cache = self.host_cache
        return cache.bytes, len(cache), max(cache.max_bytes, 0)

    # -- helpers --------------------------------------------------------------------------------

    def _rendered(self, token: int) -> bytes:
        return self.model.piece(token, special=True)

    def _fill_batch(self) -> list[Slot]:
        """This step's batch; the slots that get logits (and so a sampled token), in batch order.

        What each slot puts in is decided first: decoding sequences one token each (plus a draft, or
        the run their constraint forced), so streams keep flowing while prompts prefill; then prompt
        chunks up to the batch budget; then throwaway tokens in the holes between busy sequences where
        they save a pass (fillers.py). It is added in sequence-id order, so that llama.cpp's passes
        (one per run of consecutive ids) cover as many sequences as they can."""
        batch = self.batch
        batch.clear()
        for slot in self.slots:
            slot.batch_index = slot.output_row = -1
        decoding = [s for s in self.slots if s.busy and s.next_token is not None]
        drafts = self._plan_drafts(decoding)
        entries: dict[int, tuple[Slot, str, list[int]]] = {}  # seq_id -> (slot, kind, tokens)
        room = batch.capacity
        for slot in decoding:
            if not room:
                break
            assert slot.next_token is not None
            if slot.forced:
                # The constraint forced tokens after the sampled one: they are fed with it (logits for
                # the last only); a run longer than the room goes on as a prefill. No draft with them.
                run, slot.next_token, slot.forced = [slot.next_token, *slot.forced], None, []
                if len(run) > room:
                    run, slot.pending = run[:room], run[room:]
                    entries[slot.seq_id] = (slot, "partial", run)
                else:
                    entries[slot.seq_id] = (slot, "forced", run)
            else:
                slot.draft = drafts.get(slot, [])[: room - 1]
                run = [slot.next_token, *slot.draft]
                slot.next_token = None
                entries[slot.seq_id] = (slot, "decode", run)
            room -= len(run)
        for slot in self.slots:
            if slot.busy and slot.pending and room and slot.seq_id not in entries:
                take = min(len(slot.pending), room)
                chunk, slot.pending = slot.pending[:take], slot.pending[take:]
                entries[slot.seq_id] = (slot, "chunk", chunk)
                room -= take
        for seq_id in self._fillers(entries, room):
            idle = self.slots[seq_id]
            entries[seq_id] = (idle, "filler", idle.cached[-1:] or [0])  # any token will do
        active: list[Slot] = []
        for seq_id in sorted(entries):
            slot, kind, run = entries[seq_id]
            start = len(slot.cached)
            if kind == "filler":  # written past what the slot holds; removed after the decode
                batch.add(run, start, seq_id, False)
                continue
            if kind == "partial":
                batch.add(run, start, seq_id, False)
            elif kind == "chunk" and slot.prompt_lps is not None:  # row i predicts the token after run[i]
                first = batch.add_all(run, start, seq_id)
                slot.scoring = (first, run[1:] + slot.pending[:1])
                if not slot.pending:  # the last row: the first output token's logits
                    slot.batch_index, slot.output_row = batch.n - 1, first + len(run) - 1
            elif kind == "chunk":
                row = batch.add(run, start, seq_id, not slot.pending)
                if not slot.pending:
                    slot.batch_index, slot.output_row = batch.n - 1, row
            elif kind == "decode" and slot.draft:
                slot.batch_index = batch.n
                slot.output_row = batch.add_all(run, start, seq_id)
            else:  # a decode without a draft, or a forced run: logits for the last token
                slot.output_row = batch.add(run, start, seq_id, True)
                slot.batch_index = batch.n - 1
            slot.cached.extend(run)
            if slot.batch_index >= 0:
                active.append(slot)
        self._filled = [seq_id for seq_id, (_, kind, _) in entries.items() if kind == "filler"]
        return active

    def _fillers(self, entries: dict[int, tuple[Slot, str, list[int]]], room: int) -> list[int]:
        """Idle sequences that get a throwaway token this step, where it saves a pass (fillers.py)."""
        if self.step_cost is None or len(entries) < 2 or not room:
            return []
        layout = [(seq_id, len(entries[seq_id][2])) for seq_id in sorted(entries)]

        def fillable(seq_id: int) -> bool:
            slot = self.slots[seq_id]
            return not slot.busy and len(slot.cached) < self.ctx_size

        return plan_fillers(layout, fillable, self.step_cost, self.batch.capacity, room)

    def _plan_drafts(self, decoding: list[Slot]) -> dict[Slot, list[int]]:
        """The drafted tokens each decoding slot verifies this step, as far as they pay (drafting.py)."""
        if self.step_cost is None:
            return {}
        proposals = {s: d for s in decoding if not s.forced and (d := self._draft(s, self.speculation.draft_max))}
        if not proposals:
            return {}
        prefilling = [s for s in self.slots if s.busy and s.pending]
        return plan_step_drafts(decoding, prefilling, proposals, self.step_cost, self.batch.capacity)

    def _draft(self, slot: Slot, limit: int) -> list[int]:
        """Up to `limit` tokens to verify after this slot's sampled one: never past its `max_tokens` or
        its context."""
        if slot.drafter is None or limit <= 0:
            return []
        assert slot.job is not None
        left = min(
            slot.job.max_tokens - slot.generated - 1,  # the sampled token is one of the generated
            self.ctx_size - len(slot.cached) - 1,
        )
        return slot.drafter.draft(min(limit, left))

    def _logits(self, pointer: ctypes._Pointer[ctypes.c_float], rows: int) -> np.ndarray:
        """A (rows, n_vocab) view of logits llama.cpp owns, valid until the next decode."""
        return np.ctypeslib.as_array(
            ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(rows, self.model.n_vocab)
        )

    def _logprob(self, index: int, token: int, top_n: int) -> RawLogprob:
        return row_logprob(self._logits(C.llama_get_logits_ith(self.ctx, index), 1)[0], token, top_n)


