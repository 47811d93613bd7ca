"""One KV-memory sequence of llama.cpp's context (a slot) and what a step needs to know of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..base import BackendJob, RawLogprob
from ..ngram import NgramDrafter
from .host_cache import PromptEnd
from .sampler import SequenceSampler


@dataclass(eq=False)
class Slot:
    """A sequence id, the tokens its memory holds, and the job running in it (if any)."""

    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose K/V are in memory for seq_id
    job: BackendJob | None = None
    sampler: SequenceSampler | None = None  # None for plain greedy: argmax, no chain needed
    pending: list[int] = field(default_factory=list)  # prompt tokens still to prefill
    next_token: int | None = None  # sampled, not yet decoded
    forced: list[int] = field(default_factory=list)  # forced by the constraint after next_token, not yet decoded
    batch_index: int = -1  # where this slot's logits are in the current batch, or -1
    output_row: int = -1  # the row of those logits among the step's outputs
    last_used: int = 0
    drafter: NgramDrafter | None = None  # the sequence's own tokens, indexed for drafting
    draft: list[int] = field(default_factory=list)  # drafted tokens in this step's batch, after next_token
    generated: int = 0
    # A job with `prompt_logprobs`: the prompt's logprobs so far, and this step's rows to score
    # (the first output row of its chunk, and the prompt token each row predicts).
    prompt_lps: list[RawLogprob] | None = None
    scoring: tuple[int, list[int]] | None = None
    # The logits at the end of the last prompt computed here (or restored with its state): a later job
    # with exactly that prompt takes its first token from them, with no decode, while `cached` still
    # holds it (`ends_prompt`).
    prompt_end: PromptEnd | None = None
    # A copy between this slot's memory and another's is queued: across KV streams llama.cpp makes it
    # at the next decode, so until then the slot's bytes are neither saved (they are not there yet)
    # nor replaced by a restore (the copy would land over it, or carry it off).
    copy_pending: bool = False

    @property
    def busy(self) -> bool:
        return self.job is not None


def ends_prompt(slot: Slot, prompt: list[int]) -> bool:
    """Whether `slot` holds all of `prompt` and the logits at its end."""
    end = slot.prompt_end
    return end is not None and end.tokens == tuple(prompt) and end.follows(slot.cached)
