"""transformers' step of continuous batching: forward passes over a causal LM, one step at a time.

The shared `Scheduler` (backends/scheduler.py) admits, finishes and delivers; on its worker thread,
each step here
  1. runs one forward pass per decode batch (one token for every decoding sequence) and samples each
     row with that sequence's own sampler (`sample_rows`); a row whose constraint then forces the next
     tokens (fast-forward) feeds them after its sampled token in the next step's forward (its run
     left-padded to the batch's widest, masked), and they are delivered with the sampled token;
  2. prefills one chunk (up to `batch_size` tokens) of one waiting prompt, so a long prompt never
     stalls running streams for long; a finished prompt samples its first token and, from the next
     step on, decodes as a row of a batch.
"""

from __future__ import annotations

import inspect
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from ..base import BackendJob, RawLogprob
from ..scheduler import Placed, Sampled, Wait
from .batch import DecodeBatch, mergeable
from .sampler import SequenceSampler, sample_rows
from .vocab import Vocabulary


@dataclass(eq=False)
class Seq:
    job: BackendJob
    sampler: SequenceSampler
    pending: list[int]  # prompt tokens not yet prefilled
    cache: DynamicCache | None = None  # own cache until it joins a batch, which holds it afterwards
    batch: DecodeBatch | None = None  # the decode batch this sequence is a row of, once prefilled
    length: int = 0  # tokens whose K/V are in the cache (= the next token's position)
    next_token: int | None = None  # sampled, not yet fed to the model
    prompt_lps: list[RawLogprob] | None = None  # a job with `prompt_logprobs`: collected while prefilling
    forced: list[int] = field(default_factory=list)  # forced by the constraint after next_token, not yet fed


class TransformersStepper:
    """The `Stepper` for one transformers model (a PreTrainedModel in eval mode, on `device`)."""

    def __init__(self, model: Any, vocab: Vocabulary, *, device: str, batch_size: int) -> None:
        self.model = model
        self.vocab = vocab
        self.device = device
        self.batch_size = batch_size
        # transformers 5.2x renamed forward's `past_key_values` to `cache` (the old name warns).
        params = inspect.signature(model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.prefilling: list[Seq] = []
        self.prefilled: list[Seq] = []  # first token sampled; they join a decode batch next step
        self.batches: list[DecodeBatch] = []

    # -- the Stepper interface ------------------------------------------------------------------

    def worker(self) -> AbstractContextManager[None]:
        # inference_mode is thread-local: it must be entered on the worker thread, not the loader's.
        return torch.inference_mode()

    def place(self, job: BackendJob) -> Placed[Seq] | Wait:
        guide = None
        if job.constraint is not None:
            guide = self.vocab.constraints.guide(job.constraint, self.vocab.rendered)
        sampler = SequenceSampler(job.sampling, guide)
        seq = Seq(job, sampler, list(job.prompt_tokens), prompt_lps=[] if job.prompt_logprobs is not None else None)
        self.prefilling.append(seq)
        return Placed(seq)

    def step(self) -> list[Sampled[Seq]]:
        for seq in self.prefilled:
            self._join(seq)
        self.prefilled = []
        sampled: list[Sampled[Seq]] = []
        for batch in self.batches:
            sampled += self._decode(batch)
        if self.prefilling:
            first = self._prefill_chunk(self.prefilling[0])
            if first is not None:
                sampled.append(first)
        return sampled

    def release(self, seq: Seq) -> None:
        seq.cache = None
        if seq.batch is None:
            for waiting in (self.prefilling, self.prefilled):
                if seq in waiting:
                    waiting.remove(seq)
            return
        # A finished row leaves its batch now, so its K/V never outlive the request.
        batch, seq.batch = seq.batch, None
        batch.drop([batch.members.index(seq)])
        if not len(batch):
            self.batches.remove(batch)

    def reset(self) -> None:
        self.prefilling, self.prefilled, self.batches = [], [], []

    def is_eog(self, token: int) -> bool:
        return token in self.vocab.eos_ids

    def piece(self, token: int) -> bytes:
        return self.vocab.piece(token)

    def prompt_cache(self) -> tuple[int, int, int]:
        return 0, 0, 0  # no prompt cache beyond the slots on this backend

    # -- helpers --------------------------------------------------------------------------------

    def _decode(self, batch: DecodeBatch) -> list[Sampled[Seq]]:
        members: list[Seq] = list(batch.members)
        runs = []
        for s in members:
            assert s.next_token is not None
            runs.append([s.next_token, *s.forced])
        inputs = batch.step_inputs(runs, [s.length for s in members])
        inputs[self.cache_arg] = inputs.pop("past_key_values")
        out = self.model(**inputs)
        picks = sample_rows(
            [s.sampler for s in members], out.logits[:, -1, :], [s.job.logprobs for s in members]
        )
        for seq, run, (token, _) in zip(members, runs, picks):
            seq.length += len(run)
            seq.next_token = token
            seq.forced = self._forced(seq)
        return [
            Sampled(seq, token, logprob, forced=tuple(seq.forced)) for seq, (token, logprob) in zip(members, picks)
        ]

    @staticmethod
    def _forced(seq: Seq) -> list[int]:
        """The tokens the constraint forces after the one just sampled (none when logprobs are asked
        for: forced tokens have none to report)."""
        return seq.sampler.forced() if seq.job.logprobs is None else []

    def _prefill_chunk(self, seq: Seq) -> Sampled[Seq] | None:
        """Prefill the next chunk of `seq`'s prompt; its first token once the prompt is all in."""
        if seq.cache is None:
            seq.cache = DynamicCache(config=self.model.config)
        chunk, seq.pending = seq.pending[: self.batch_size], seq.pending[self.batch_size :]
        ids = torch.tensor([chunk], dtype=torch.long, device=self.device)
        positions = torch.arange(seq.length, seq.length + len(chunk), device=self.device).unsqueeze(0)
        # logits_to_keep=1: only the last position's logits are needed, not a vocab-wide row per token
        # (0 keeps every row: a prompt being scored needs each position's).
        out = self.model(
            input_ids=ids,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=0 if seq.prompt_lps is not None else 1,
            **{self.cache_arg: seq.cache},
        )
        seq.length += len(chunk)
        if seq.prompt_lps is not None:  # row i predicts the prompt token after chunk[i]
            targets = chunk[1:] + seq.pending[:1]
            seq.prompt_lps += prompt_logprobs(out.logits[0, : len(targets)], targets, seq.job.prompt_logprobs or 0)
        if seq.pending:
            return None
        token, logprob = sample_rows([seq.sampler], out.logits[:, -1, :], [seq.job.logprobs])[0]
        seq.next_token = token
        seq.forced = self._forced(seq)
        # It joins a batch at the next step, once the scheduler knows this first token did not end it.
        self.prefilling.remove(seq)
        self.prefilled.append(seq)
        scored = tuple(seq.prompt_lps) if seq.prompt_lps is not None else None
        seq.prompt_lps = None
        return Sampled(seq, token, logprob, prompt_logprobs=scored, forced=tuple(seq.forced))

    def _join(self, seq: Seq) -> None:
        cache, seq.cache = seq.cache, None
        assert cache is not None
        target = next((b for b in self.batches if b.can_merge), None) if mergeable(cache) else None
        if target is not None:
            target.join(seq, cache, seq.length)
        else:
            target = DecodeBatch(seq, cache, seq.length, self.device)
            self.batches.append(target)
        seq.batch = target


def prompt_logprobs(rows: torch.Tensor, targets: list[int], top_n: int) -> list[RawLogprob]:
    """The logprob of `targets[i]` under row i of `rows` (logits), with the `top_n` best of that row."""
    if not targets:
        return []
    logz = torch.log_softmax(rows.detach().to("cpu", torch.float64), dim=-1)
    picked = logz[torch.arange(len(targets)), torch.tensor(targets, dtype=torch.long)].tolist()
    if top_n <= 0:
        return [RawLogprob(float(lp)) for lp in picked]
    values, ids = torch.topk(logz, min(top_n, logz.shape[-1]), dim=-1)
    return [
        RawLogprob(float(lp), tuple((int(t), float(v)) for t, v in zip(row_ids, row_values)))
        for lp, row_ids, row_values in zip(picked, ids.tolist(), values.tolist())
    ]
