"""`ModelEngine`: one loaded model, generating neutral events for any protocol (an `EngineClient`).

`start()` plans the request once (template, tools, constraints, tokens) and queues its `n` choices on
the backend; the returned `Generation` yields `(choice, event)` until each choice has finished.
`astream()` / `agenerate()` are the one-choice conveniences for Python callers; `agenerate()` is the
fold of `astream()`, so streaming and non-streaming cannot disagree. The backend runs on its own
thread; its events reach this event loop through a `LoopPoster`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..backends.base import Backend, BackendJob
from ..backends.delivery import LoopPoster
from ..core.embedding import EmbeddingRequest, EmbeddingResult
from ..core.errors import InvalidRequest, UnsupportedFeature
from ..core.settings import ModelSettings
from ..core.types import Event, GenerationRequest, GenerationResult, LoadStats, ModelInfo, SamplingParams
from .embedding import embed
from .generation import Generation, Posted, fold_events
from .prompt import PromptPlan, plan_prompt
from .reasoning import model_reasoning
from .sink import QueueSink
from .templates import ChatTemplate


class ModelEngine:
    def __init__(
        self,
        backend: Backend,
        *,
        aliases: tuple[str, ...] = (),
        tool_parser: str | None = None,
        sampling_defaults: dict[str, float] | None = None,
        reasoning_parser: str | None = None,
        reasoning_budget: int | None = None,
    ) -> None:
        """`sampling_defaults`: for the fields a request leaves out (`GenerationRequest.sampling_unset`),
        over the model's own (`ModelInfo.sampling_defaults`). `reasoning_parser`: the reasoning format
        (None or "auto": detected from the chat template); `reasoning_budget`: the default thinking
        budget of requests that give none."""
        if tool_parser is not None:
            from ..tools import get_parser

            get_parser(tool_parser)  # an unknown name fails at load, not on the first tool request
        self.tool_parser = tool_parser
        self.backend = backend
        self.sampling_defaults = {**backend.info.sampling_defaults, **(sampling_defaults or {})}
        self.template = ChatTemplate(backend.info.chat_template, bos_token=backend.bos_token, eos_token=backend.eos_token)
        self.reasoning = model_reasoning(self.template, backend, reasoning_parser)
        self.reasoning_budget = reasoning_budget
        self.aliases = aliases
        self.loaded_at = time.time()
        self.load_duration_ns = 0
        # One event deliverer per event loop that asks for generations (usually exactly one).
        self._posters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPoster]
        self._posters = weakref.WeakKeyDictionary()

    @classmethod
    async def load(
        cls,
        model: str | None = None,
        *,
        served_name: str | None = None,
        settings: ModelSettings | None = None,
        **overrides: Any,
    ) -> ModelEngine:
        """Resolve `model` (a .gguf path, a folder, a Hub id, or None for the embedded model) and load it.

        Keyword overrides are `ModelSettings` fields, e.g. `ModelEngine.load(m, parallel=8)`.
        """
        from ..backends.registry import create_backend
        from ..models import resolve_model

        settings = settings or ModelSettings()
        if overrides:  # validated like the fields themselves (model_copy would not check them)
            settings = ModelSettings.model_validate({**settings.model_dump(), **overrides})
        started = time.perf_counter_ns()
        resolved = await asyncio.to_thread(resolve_model, model, allow_pickle=settings.allow_pickle)
        name = served_name or resolved.name
        backend = await asyncio.to_thread(create_backend, resolved, name, settings)
        engine = cls(
            backend,
            aliases=_aliases_for(resolved.name, model, served_name),
            tool_parser=settings.tool_parser,
            sampling_defaults={**resolved.sampling_defaults, **settings.sampling_defaults()},
            reasoning_parser=settings.reasoning_parser,
            reasoning_budget=settings.reasoning_budget,
        )
        engine.load_duration_ns = time.perf_counter_ns() - started
        return engine

    # -- identity ---------------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    @property
    def model_name(self) -> str:
        return self.backend.info.name

    @property
    def reasoning_format(self) -> str:
        """The model's reasoning format (`think_tags`, `mistral`, `harmony`), "none" when it has none."""
        return self.reasoning.format

    def serves(self, model: str) -> bool:
        """Whether a request naming `model` is for us: the served name or one of its aliases."""
        return model == self.model_name or model in self.aliases

    def load_stats(self) -> LoadStats:
        return self.backend.load_stats()

    # -- generation -------------------------------------------------------------------------------

    async def plan(self, request: GenerationRequest) -> PromptPlan:
        """Render and tokenize off the event loop (long prompts take milliseconds)."""
        return await asyncio.to_thread(
            functools.partial(
                plan_prompt,
                request,
                self.template,
                self.backend,
                tool_parser=self.tool_parser,
                reasoning=self.reasoning,
                reasoning_budget=self.reasoning_budget,
            )
        )

    async def count_tokens(self, request: GenerationRequest) -> int:
        return len(await self.prompt_token_ids(request))

    async def prompt_token_ids(self, request: GenerationRequest) -> list[int]:
        """The tokens the model would read for `request` (its template, tools and all)."""
        return (await self.plan(request)).tokens

    async def start(self, request: GenerationRequest) -> Generation:
        """Plan `request` once and queue its `n` choices; errors about the request itself (bad input,
        context length, overload) raise here, before any event, so a protocol can still answer with a
        plain error. With a seed, choice i samples with seed + i, so the choices differ."""
        return await self.start_batch([request])

    async def start_batch(self, requests: Sequence[GenerationRequest]) -> Generation:
        """Several requests answered as one (a batch of prompts): request r's choice j is choice
        `sum(n of the requests before r) + j` of the generation. Every request is planned before any
        is queued, so a bad one fails them all before anything runs."""
        if not self.info.generates:
            raise UnsupportedFeature(
                f"model '{self.model_name}' is an embedding model and does not generate text; "
                "use /v1/embeddings or /api/embed",
                param="model",
            )
        plans = [await self.plan(request) for request in requests]
        loop = asyncio.get_running_loop()
        poster = self._posters.get(loop)
        if poster is None:
            poster = self._posters[loop] = LoopPoster(loop)
        queue: asyncio.Queue[tuple[int, Posted]] = asyncio.Queue()
        jobs: list[BackendJob] = []
        for request, plan in zip(requests, plans):
            for choice in range(request.n):
                sampling = self._sampling_for(request)
                if choice and sampling.seed is not None:
                    sampling = dataclasses.replace(sampling, seed=sampling.seed + choice)
                sink = QueueSink(poster, queue, len(jobs), self.backend, plan, request.stop, echo=request.echo)
                jobs.append(
                    BackendJob(
                        prompt_tokens=plan.tokens,
                        sampling=sampling,
                        max_tokens=plan.max_tokens,
                        sink=sink,
                        constraint=plan.constraint,
                        logprobs=request.logprobs,
                        prompt_logprobs=request.prompt_logprobs,
                    )
                )
        for submitted, job in enumerate(jobs):
            try:
                self.backend.submit(job)  # raises Overloaded when the queue is full
            except BaseException:
                for queued in jobs[:submitted]:  # choices already queued must not run for nobody
                    self.backend.cancel(queued)
                raise
        return Generation(self.backend, jobs, queue, sum(len(plan.tokens) for plan in plans))

    def _sampling_for(self, request: GenerationRequest) -> SamplingParams:
        """The request's sampling with the deployment's defaults in the fields it left out."""
        chosen = {k: v for k, v in self.sampling_defaults.items() if k in request.sampling_unset}
        if not chosen:
            return request.sampling
        s = request.sampling
        return dataclasses.replace(
            s,
            temperature=chosen.get("temperature", s.temperature),
            top_p=chosen.get("top_p", s.top_p),
            top_k=int(chosen.get("top_k", s.top_k)),
            min_p=chosen.get("min_p", s.min_p),
            repeat_penalty=chosen.get("repeat_penalty", s.repeat_penalty),
        )

    # -- tokens -----------------------------------------------------------------------------------

    async def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        """`text`'s tokens (special-token markup parsed); `add_special`: with the BOS the model wants."""
        return await asyncio.to_thread(functools.partial(self.backend.tokenize, text, add_special=add_special))

    def token_pieces(self, tokens: Sequence[int]) -> list[bytes]:
        """Each token's bytes (special tokens written out); `InvalidRequest` for an id out of the vocabulary."""
        size = self.backend.vocab_size
        bad = next((t for t in tokens if not 0 <= t < size), None)
        if bad is not None:
            raise InvalidRequest(f"token {bad} is not in this model's vocabulary (0 to {size - 1})", param="tokens")
        return [self.backend.token_bytes(t) for t in tokens]

    async def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_pieces(tokens)).decode("utf-8", errors="replace")

    async def astream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        """The events of a one-choice request."""
        generation = await self.start(dataclasses.replace(request, n=1))
        try:
            async for _, event in generation:
                yield event
        finally:
            await generation.aclose()

    async def agenerate(self, request: GenerationRequest) -> GenerationResult:
        return await fold_events(self.astream(request))

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """One normalized vector per input (engine/embedding.py); bad input, context length and a
        full queue raise before any work."""
        return await embed(self.backend, request)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.backend.close)


def _aliases_for(resolved_name: str, requested: str | None, served_name: str | None) -> tuple[str, ...]:
    names = {resolved_name}
    if requested:
        names.add(requested)
    names.discard(served_name or resolved_name)
    return tuple(sorted(names))
