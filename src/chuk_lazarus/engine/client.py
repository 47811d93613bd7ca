"""The engine as the HTTP layer sees it: the one interface routers, `create_app` and test fakes share.

Modelled on vLLM's `EngineClient`: start a generation, count tokens, say which names it serves, give
model information and load. `ModelEngine` implements it; so does the scripted engine of the router
tests, so routers never depend on a concrete engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from ..core.embedding import EmbeddingRequest, EmbeddingResult
from ..core.types import Event, GenerationRequest, GenerationResult, LoadStats, ModelInfo


class GenerationStream(Protocol):
    """What `start` returns: the prompt's size for a first frame, then every choice's events."""

    prompt_tokens: int

    @property
    def n(self) -> int: ...

    def __aiter__(self) -> AsyncIterator[tuple[int, Event]]: ...

    async def next(self, timeout: float | None = None) -> tuple[int, Event] | None:
        """The next event, None after `timeout` seconds of silence; StopAsyncIteration at the end."""

    async def results(self) -> list[GenerationResult]: ...

    async def aclose(self) -> None: ...


class EngineClient(Protocol):
    @property
    def model_name(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...

    @property
    def info(self) -> ModelInfo: ...

    @property
    def loaded_at(self) -> float: ...  # Unix time, for model lists' `created`

    @property
    def sampling_defaults(self) -> dict[str, float]: ...  # for the fields a request leaves out

    @property
    def load_duration_ns(self) -> int: ...

    @property
    def reasoning_format(self) -> str: ...  # "think_tags", "mistral", "harmony"; "none": cannot reason

    def serves(self, model: str) -> bool:
        """Whether a request naming `model` is for this engine (the served name or an alias)."""

    def load_stats(self) -> LoadStats: ...

    async def start(self, request: GenerationRequest) -> GenerationStream:
        """Plan `request` once and queue its `request.n` choices. Errors about the request itself (bad
        input, context length, overload) raise here, before any event."""

    async def start_batch(self, requests: Sequence[GenerationRequest]) -> GenerationStream:
        """Several requests as one generation: request r's choice j is choice `sum(n before r) + j`."""

    async def count_tokens(self, request: GenerationRequest) -> int: ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """One L2-normalized vector per input. Errors about the request (empty input, too long,
        `dimensions`, overload, a model that cannot embed) raise before any work."""

    async def prompt_token_ids(self, request: GenerationRequest) -> list[int]:
        """The tokens the model would read for `request`, as `start` plans it."""

    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]: ...

    def token_pieces(self, tokens: Sequence[int]) -> list[bytes]:
        """Each token's bytes; raises `InvalidRequest` (param `tokens`) for an id not in the vocabulary."""

    async def detokenize(self, tokens: Sequence[int]) -> str: ...

    async def aclose(self) -> None: ...
