"""Continuous batching over a transformers model: one worker thread, step by step.

Each step the worker
  1. admits queued jobs while fewer than `parallel` sequences are running;
  2. ends cancelled sequences (a disconnect frees its row within one step);
  3. runs one forward pass per decode batch (one token for every decoding sequence), samples each row
     with that sequence's own sampler (`sample_rows`) and hands the token to its sink;
  4. prefills one chunk (up to `chunk_size` tokens) of one waiting prompt, so a long prompt never
     stalls running streams for long; a finished prompt samples its first token and joins the batch.
"""

from __future__ import annotations

import inspect
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from ...engine.errors import GenerationFailed
from ..admission import AdmissionQueue
from ..base import BackendFinish, BackendJob, RawLogprob
from .batch import DecodeBatch, mergeable
from .sampler import SequenceSampler, sample_rows

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Seq:
    job: BackendJob
    sampler: SequenceSampler
    pending: list[int]  # prompt tokens not yet prefilled
    cache: DynamicCache | None = None  # own cache while prefilling; the batch holds it afterwards
    length: int = 0  # tokens whose K/V are in the cache (= the next token's position)
    next_token: int | None = None  # sampled, not yet fed to the model
    generated: int = 0
    done: bool = field(default=False)


class Scheduler(AdmissionQueue):
    def __init__(
        self,
        model: Any,
        vocab: Any,  # the backend's Vocabulary: eos ids, pieces, llguidance tokenizer
        *,
        device: str,
        n_ctx_per_seq: int,
        parallel: int,
        chunk_size: int,
        max_queue: int,
    ) -> None:
        super().__init__(max_queue)
        self.model = model
        self.vocab = vocab
        self.device = device
        self.n_ctx_per_seq = n_ctx_per_seq
        self.parallel = parallel
        self.chunk_size = chunk_size
        # transformers 5.2x renamed forward's `past_key_values` to `cache` (the old name warns).
        params = inspect.signature(model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.prefilling: list[_Seq] = []
        self.batches: list[DecodeBatch] = []
        self.thread = threading.Thread(target=self._run, name="lazarus-transformers", daemon=True)
        self.thread.start()

    # -- called from any thread -----------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self.cond:
            return {
                "active": self._active_count(),
                "queued": len(self.queue),
                "slots": self.parallel,
                "max_queue": self.max_queue,
            }

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify()
        self.thread.join(timeout=30)

    # -- the worker thread ----------------------------------------------------------------------

    def _active_count(self) -> int:
        return len(self.prefilling) + sum(len(b) for b in self.batches)

    def _all_seqs(self) -> list[_Seq]:
        return self.prefilling + [s for b in self.batches for s in b.members]

    def _run(self) -> None:
        # inference_mode is thread-local: it must be entered on this thread, not the loader's.
        with torch.inference_mode():
            while True:
                with self.cond:
                    while not self.closing and not self.queue and not self._active_count():
                        self.cond.wait()
                    if self.closing:
                        break
                    self._admit_locked()
                try:
                    self._step()
                except Exception as exc:  # a failed forward fails the sequences in flight, never the thread
                    log.exception("generation step failed")
                    for seq in self._all_seqs():
                        self._finish(seq, error=GenerationFailed(f"generation failed: {exc}"))
                    self.prefilling, self.batches = [], []
        for seq in self._all_seqs():
            self._finish(seq, "cancelled")
        while self.queue:
            self.queue.popleft().sink.on_finish("cancelled", 0)

    def _admit_locked(self) -> None:
        while self.queue and self._active_count() < self.parallel:
            job = self.queue.popleft()
            if job.cancelled:
                job.sink.on_finish("cancelled", 0)
                continue
            try:
                sampler = SequenceSampler(
                    job.sampling,
                    job.grammar,
                    job.grammar_triggers,
                    lltokenizer=self.vocab.lltokenizer(),
                    render=self.vocab.rendered,
                )
            except Exception as exc:  # noqa: BLE001 - a request that cannot start fails alone
                job.sink.on_error(exc)
                continue
            self.prefilling.append(_Seq(job, sampler, list(job.prompt_tokens)))

    def _step(self) -> None:
        for seq in self._all_seqs():
            if seq.job.cancelled:
                self._finish(seq, "cancelled")
        self._sweep()
        for batch in self.batches:
            self._decode(batch)
        self._sweep()
        if self.prefilling:
            self._prefill_chunk(self.prefilling[0])
            self._sweep()

    def _sweep(self) -> None:
        """Drop finished sequences from the prefill list and their rows from the decode batches."""
        self.prefilling = [s for s in self.prefilling if not s.done]
        for batch in self.batches:
            rows = [i for i, s in enumerate(batch.members) if s.done]
            if rows:
                batch.drop(rows)
        self.batches = [b for b in self.batches if len(b)]

    def _decode(self, batch: DecodeBatch) -> None:
        members = list(batch.members)
        tokens = [s.next_token for s in members]
        assert all(t is not None for t in tokens)
        inputs = batch.step_inputs([t for t in tokens if t is not None], [s.length for s in members])
        inputs[self.cache_arg] = inputs.pop("past_key_values")
        out = self.model(**inputs)
        picks = sample_rows(
            [s.sampler for s in members], out.logits[:, -1, :], [s.job.logprobs for s in members]
        )
        for seq, (token, logprob) in zip(members, picks):
            seq.length += 1
            seq.next_token = None
            self._emit(seq, token, logprob)

    def _prefill_chunk(self, seq: _Seq) -> None:
        if seq.cache is None:
            seq.cache = DynamicCache(config=self.model.config)
        chunk, seq.pending = seq.pending[: self.chunk_size], seq.pending[self.chunk_size :]
        ids = torch.tensor([chunk], dtype=torch.long, device=self.device)
        positions = torch.arange(seq.length, seq.length + len(chunk), device=self.device).unsqueeze(0)
        # logits_to_keep=1: only the last position's logits are needed, not a vocab-wide row per token.
        out = self.model(
            input_ids=ids,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_arg: seq.cache},
        )
        seq.length += len(chunk)
        if seq.pending:
            return
        seq.job.sink.on_prompt_done(0)
        token, logprob = sample_rows([seq.sampler], out.logits[:, -1, :], [seq.job.logprobs])[0]
        self._emit(seq, token, logprob)
        if seq.done:
            return
        self.prefilling.remove(seq)
        cache, seq.cache = seq.cache, None
        target = next((b for b in self.batches if b.can_merge), None) if mergeable(cache) else None
        if target is not None:
            target.join(seq, cache, seq.length)
        else:
            self.batches.append(DecodeBatch(seq, cache, seq.length, self.device))

    def _emit(self, seq: _Seq, token: int, logprob: RawLogprob | None) -> None:
        job = seq.job
        seq.generated += 1
        if token in self.vocab.eos_ids:
            self._finish(seq, "eos")
            return
        keep_going = job.sink.on_token(token, self.vocab.piece(token), logprob)
        if not keep_going:
            self._finish(seq, "stopped")
        elif seq.generated >= job.max_tokens or seq.length + 1 >= self.n_ctx_per_seq:
            self._finish(seq, "length")
        else:
            seq.next_token = token

    def _finish(
        self, seq: _Seq, reason: BackendFinish = "cancelled", *, error: Exception | None = None
    ) -> None:
        if seq.done:
            return
        seq.done = True
        seq.cache = None
        if error is not None:
            seq.job.sink.on_error(error)
        else:
            seq.job.sink.on_finish(reason, seq.generated)
