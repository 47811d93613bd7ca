"""The interface every backend implements, and the job a backend runs.

A backend owns the model and runs generation on its own thread(s). The engine hands it a `BackendJob`
whose `sink` is called *on the backend's thread* once per sampled token; the sink decodes text,
applies stop strings and tool parsing, forwards events to asyncio, and tells the backend whether to
continue. Backends know nothing about chat templates, tools or protocols.
"""

from __future__ import annotations

import abc
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..core.errors import UnsupportedFeature
from ..core.grammar import Constraint
from ..core.types import LoadStats, ModelInfo, SamplingParams

# "cancelled": the job's consumer went away (`Backend.cancel`); "shutdown": the backend is closing.
BackendFinish = Literal["eos", "length", "stopped", "cancelled", "shutdown"]


@dataclass(frozen=True)
class RawLogprob:
    """The sampled token's log-probability and the top alternatives, as token ids."""

    logprob: float
    top: tuple[tuple[int, float], ...] = ()


class TokenSink(Protocol):
    def on_admitted(self) -> None:
        """The job left the admission queue and holds a sequence (its queue time ends here)."""

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        """Take one sampled token. Return False to end the sequence now (a stop string was hit)."""

    def on_prompt_done(self, cached_tokens: int) -> None:
        """The prompt is in the KV memory; `cached_tokens` of it were reused rather than computed."""

    def on_prompt_logprobs(self, logprobs: tuple[RawLogprob, ...]) -> None:
        """Only for a job with `prompt_logprobs` set, before `on_prompt_done`: the logprob of every
        prompt token after the first (entry i is token i + 1's, given the tokens before it)."""

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        """The sequence ended. Called exactly once per job unless `on_error` is."""

    def on_error(self, error: Exception) -> None:
        """The sequence failed. Called at most once, instead of `on_finish`."""


@dataclass(eq=False)
class BackendJob:
    prompt_tokens: list[int]
    sampling: SamplingParams
    max_tokens: int
    sink: TokenSink
    # The sampler only lets through tokens the constraint accepts (compiled by `Backend.check_constraint`
    # first). A lazy one (`constraint.triggers`) applies once the output reaches a trigger.
    constraint: Constraint | None = None
    logprobs: int | None = None  # None: off; N: the sampled token plus N alternatives
    # None: off; N: every prompt token's logprob (plus N alternatives), from logits computed for every
    # prompt position, so such a job reuses no cached prefix. With `max_tokens` 0 nothing is generated.
    prompt_logprobs: int | None = None
    cancelled: bool = field(default=False, init=False)


class Backend(abc.ABC):
    """A loaded model that tokenizes and generates. Thread-safe: `submit`/`cancel` from any thread."""

    info: ModelInfo
    bos_token: str
    eos_token: str
    vocab_size: int  # token ids are 0 .. vocab_size - 1

    def fim_tokens(self) -> tuple[int, int, int] | None:
        """The model's fill-in-the-middle tokens (prefix, suffix, middle), or None when it has none."""
        return None

    @abc.abstractmethod
    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = True) -> list[int]:
        """Tokens for `text`. `parse_special`: special-token markup in `text` (e.g. `<|im_start|>`)
        becomes those tokens; without it, it is tokenized as the plain text it is."""

    def may_hold_control_text(self, text: str) -> bool:
        """False only when `text` surely tokenizes the same with and without special-token parsing:
        it holds the text of none of the tokens that parsing would turn into control tokens. True when
        it might, or when this backend cannot tell (the caller then tokenizes both ways)."""
        return True

    @abc.abstractmethod
    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens rendered), for logprob payloads."""

    @abc.abstractmethod
    def submit(self, job: BackendJob) -> None:
        """Queue `job`. Raises `Overloaded` at once when the admission queue is full."""

    def check_constraint(self, constraint: Constraint) -> None:
        """Compile `constraint` for this model (cached), so that a job carrying it starts without a
        compile. Raises `InvalidRequest` naming the field (and keyword) it cannot enforce. Called off the
        event loop; may take milliseconds for a large schema."""
        raise UnsupportedFeature("this backend cannot constrain its output", param=constraint.param)

    def special_token(self, text: str) -> int | None:
        """The one special token that is `text` (a reasoning model's `</think>`, `[THINK]`), which a
        constraint's grammar must name by id; None when `text` is not one, or this backend has no
        constraints."""
        return None

    def embed(self, inputs: list[list[int]]) -> Future[list[list[float]]]:
        """Queue `inputs` (token lists that fit the context) for one normalized vector each, computed
        off the caller's thread and batched with other requests (backends/embedding.py). Raises
        `Overloaded` at once when the embedding queue is full, `InvalidRequest` for a bad token id."""
        raise UnsupportedFeature(f"model '{self.info.name}' does not support embeddings", param="model")

    def cancel(self, job: BackendJob) -> None:
        """Stop `job` within one step; its sink hears `on_finish("cancelled", …)`."""
        job.cancelled = True

    @abc.abstractmethod
    def load_stats(self) -> LoadStats:
        """What the backend is doing now: active sequences, queued jobs, capacity."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the worker thread and free the model."""
