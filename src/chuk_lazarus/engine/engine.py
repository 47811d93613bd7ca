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
from collections.abc import AsyncIterator
from typing import Any

from ..backends.base import Backend, BackendJob
from ..backends.delivery import LoopPoster
from ..core.settings import ModelSettings
from ..core.types import Event, GenerationRequest, GenerationResult, LoadStats, ModelInfo
from .generation import Generation, Posted, fold_events
from .prompt import PromptPlan, plan_prompt
from .sink import QueueSink
from .templates import ChatTemplate


class ModelEngine:
    def __init__(self, backend: Backend, *, aliases: tuple[str, ...] = (), tool_parser: str | None = None) -> None:
        if tool_parser is not None:
            from ..tools import get_parser

            get_parser(tool_parser)  # an unknown name fails at load, not on the first tool request
        self.tool_parser = tool_parser
        self.backend = backend
        self.template = ChatTemplate(backend.info.chat_template, bos_token=backend.bos_token, eos_token=backend.eos_token)
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
        engine = cls(backend, aliases=_aliases_for(resolved.name, model, served_name), tool_parser=settings.tool_parser)
        engine.load_duration_ns = time.perf_counter_ns() - started
        return engine

    # -- identity ---------------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self.backend.info

    @property
    def model_name(self) -> str:
        return self.backend.info.name

    def serves(self, model: str) -> bool:
        """Whether a request naming `model` is for us: the served name or one of its aliases."""
        return model == self.model_name or model in self.aliases

    def load_stats(self) -> LoadStats:
        return self.backend.load_stats()

    # -- generation -------------------------------------------------------------------------------

    async def plan(self, request: GenerationRequest) -> PromptPlan:
        """Render and tokenize off the event loop (long prompts take milliseconds)."""
        return await asyncio.to_thread(
            functools.partial(plan_prompt, request, self.template, self.backend, tool_parser=self.tool_parser)
        )

    async def count_tokens(self, request: GenerationRequest) -> int:
        return len((await self.plan(request)).tokens)

    async def start(self, request: GenerationRequest) -> Generation:
        """Plan `request` once and queue its `n` choices; errors about the request itself (bad input,
        context length, overload) raise here, before any event, so a protocol can still answer with a
        plain error. With a seed, choice i samples with seed + i, so the choices differ."""
        plan = await self.plan(request)
        loop = asyncio.get_running_loop()
        poster = self._posters.get(loop)
        if poster is None:
            poster = self._posters[loop] = LoopPoster(loop)
        queue: asyncio.Queue[tuple[int, Posted]] = asyncio.Queue()
        jobs = []
        for index in range(request.n):
            sampling = request.sampling
            if index and sampling.seed is not None:
                sampling = dataclasses.replace(sampling, seed=sampling.seed + index)
            sink = QueueSink(poster, queue, index, self.backend, plan, request.stop)
            jobs.append(
                BackendJob(
                    prompt_tokens=plan.tokens,
                    sampling=sampling,
                    max_tokens=plan.max_tokens,
                    sink=sink,
                    constraint=plan.constraint,
                    logprobs=request.logprobs,
                )
            )
        for submitted, job in enumerate(jobs):
            try:
                self.backend.submit(job)  # raises Overloaded when the queue is full
            except BaseException:
                for queued in jobs[:submitted]:  # choices already queued must not run for nobody
                    self.backend.cancel(queued)
                raise
        return Generation(self.backend, jobs, queue, len(plan.tokens))

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

    async def aclose(self) -> None:
        await asyncio.to_thread(self.backend.close)


def _aliases_for(resolved_name: str, requested: str | None, served_name: str | None) -> tuple[str, ...]:
    names = {resolved_name}
    if requested:
        names.add(requested)
    names.discard(served_name or resolved_name)
    return tuple(sorted(names))
