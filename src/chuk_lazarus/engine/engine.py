"""`ModelEngine`: one loaded model, generating neutral events for any protocol.

`astream()` yields `TextDelta` / `ToolCallStart` / `ToolCallArgsDelta` events and ends with exactly one
`Finish`; `agenerate()` is the fold of that stream, so streaming and non-streaming cannot disagree.
The backend runs on its own thread; its per-token callbacks reach this event loop through
`loop.call_soon_threadsafe`, and a consumer that goes away cancels its sequence.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..backends.base import Backend, BackendFinish, BackendJob, RawLogprob
from .delivery import LoopPoster
from .errors import GenerationFailed, InvalidRequest
from .output import OutputPipeline
from .prompt import PromptPlan, plan_prompt
from .templates import ChatTemplate
from .types import (
    Event,
    Finish,
    FinishReason,
    GenerationRequest,
    GenerationResult,
    ModelInfo,
    TextDelta,
    Timings,
    TokenLogprob,
    ToolCall,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    """How `ModelEngine.load` builds its backend. Every field has a sensible default."""

    backend: str = "auto"  # auto | llama.cpp | transformers
    context_length: int | None = None  # per sequence; None: the model's, capped at 4096
    parallel: int = 4  # sequences decoded together
    threads: int | None = None  # None: every core
    batch_size: int = 512  # tokens per decode step (prompt chunks fill what decoding leaves)
    max_queue: int = 64  # requests waiting for a free sequence before new ones get "overloaded"
    tool_parser: str | None = None  # a `tools.available_parsers()` name; None: detected from the template
    # transformers backend only:
    device: str = "auto"  # auto (CUDA, then MPS, else CPU) | cpu | cuda[:N] | mps
    dtype: str = "auto"  # auto (float32 on CPU, bf16/fp16 on accelerators) | float32 | float16 | bfloat16
    trust_remote_code: bool = False  # run Python code shipped inside a model repo
    allow_pickle: bool = False  # load .bin/.pt checkpoints (pickle can run code); safetensors only otherwise


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
        settings: EngineSettings | None = None,
        **overrides: Any,
    ) -> ModelEngine:
        """Resolve `model` (a .gguf path, a folder, a Hub id, or None for the embedded model) and load it.

        Keyword overrides are `EngineSettings` fields, e.g. `ModelEngine.load(m, parallel=8)`.
        """
        from ..models import resolve_model

        settings = settings or EngineSettings()
        if overrides:
            settings = EngineSettings(**{**settings.__dict__, **overrides})
        started = time.perf_counter_ns()
        resolved = await asyncio.to_thread(resolve_model, model, allow_pickle=settings.allow_pickle)
        name = served_name or resolved.name
        backend = await asyncio.to_thread(_make_backend, resolved, name, settings)
        aliases = _aliases_for(resolved.name, model, served_name)
        engine = cls(backend, aliases=aliases, tool_parser=settings.tool_parser)
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

    def load_stats(self) -> dict[str, int]:
        return self.backend.load_stats()

    # -- generation -------------------------------------------------------------------------------

    async def plan(self, request: GenerationRequest) -> PromptPlan:
        """Render and tokenize off the event loop (long prompts take milliseconds)."""
        return await asyncio.to_thread(
            functools.partial(plan_prompt, request, self.template, self.backend, tool_parser=self.tool_parser)
        )

    async def count_tokens(self, request: GenerationRequest) -> int:
        return len((await self.plan(request)).tokens)

    async def start(self, request: GenerationRequest) -> EventStream:
        """Plan and queue `request`; errors about the request itself (bad input, context length,
        overload) raise here, before any event, so a protocol can still answer with a plain error."""
        plan = await self.plan(request)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | Exception] = asyncio.Queue()
        poster = self._posters.get(loop)
        if poster is None:
            poster = self._posters[loop] = LoopPoster(loop)
        sink = _QueueSink(poster, queue, self.backend, plan, request)
        job = BackendJob(
            prompt_tokens=plan.tokens,
            sampling=request.sampling,
            max_tokens=plan.max_tokens,
            sink=sink,
            grammar=plan.grammar,
            grammar_triggers=plan.grammar_triggers,
            logprobs=request.logprobs,
        )
        self.backend.submit(job)  # raises Overloaded when the queue is full
        return EventStream(self.backend, job, queue)

    async def astream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        stream = await self.start(request)
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()

    async def agenerate(self, request: GenerationRequest) -> GenerationResult:
        return await fold_events(self.astream(request))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.backend.close)


class EventStream:
    """The events of one queued generation. Iterate it to the `Finish`; `aclose()` (or leaving early)
    cancels the sequence so the backend frees it within one step."""

    def __init__(self, backend: Backend, job: BackendJob, queue: asyncio.Queue[Event | Exception]) -> None:
        self._backend = backend
        self._job = job
        self._queue = queue
        self._done = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        try:
            item = await self._queue.get()
        except BaseException:
            await self.aclose()
            raise
        if isinstance(item, Exception):
            self._done = True
            raise item
        if isinstance(item, Finish):
            self._done = True
        return item

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._backend.cancel(self._job)


async def fold_events(events: AsyncIterator[Event] | EventStream) -> GenerationResult:
    text: list[str] = []
    logprobs: list[TokenLogprob] = []
    calls: dict[int, list[str]] = {}
    heads: dict[int, ToolCallStart] = {}
    async for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
            logprobs.extend(event.logprobs)
        elif isinstance(event, ToolCallStart):
            heads[event.index] = event
            calls[event.index] = []
        elif isinstance(event, ToolCallArgsDelta):
            calls[event.index].append(event.fragment)
        elif isinstance(event, Finish):
            tool_calls = tuple(
                ToolCall(id=heads[i].id, name=heads[i].name, arguments="".join(calls[i])) for i in sorted(heads)
            )
            return GenerationResult("".join(text), tool_calls, event, tuple(logprobs))
    raise GenerationFailed("the generation ended without a finish event")


class _QueueSink:
    """Runs on the backend thread: tokens -> events -> this request's asyncio queue."""

    def __init__(
        self,
        poster: LoopPoster,
        queue: asyncio.Queue[Event | Exception],
        backend: Backend,
        plan: PromptPlan,
        request: GenerationRequest,
    ) -> None:
        self.poster = poster
        self.queue = queue
        self.backend = backend
        self.pipeline = OutputPipeline(request.stop, plan.make_parser())
        self.n_prompt = len(plan.tokens)
        self.cached = 0
        self.saw_tool_call = False
        self.t_submit = time.perf_counter_ns()
        self.t_prompt_start = self.t_submit
        self.t_first = self.t_submit

    def _post(self, item: Event | Exception) -> None:
        if isinstance(item, ToolCallStart):
            self.saw_tool_call = True
        self.poster.post(self.queue, item)

    def on_prompt_done(self, cached_tokens: int) -> None:
        self.cached = cached_tokens
        self.t_first = time.perf_counter_ns()

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        events, keep_going = self.pipeline.push(piece, self._logprob(token, logprob) if logprob else None)
        for event in events:
            self._post(event)
        return keep_going

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        if reason == "cancelled":
            self._post(GenerationFailed("the generation was cancelled (server shutting down)"))
            return
        try:
            for event in self.pipeline.finish():
                self._post(event)
        except InvalidRequest as exc:
            self._post(exc)
            return
        finish_reason: FinishReason = "length" if reason == "length" else ("tool_calls" if self.saw_tool_call else "stop")
        now = time.perf_counter_ns()
        self._post(
            Finish(
                reason=finish_reason,
                usage=Usage(self.n_prompt, completion_tokens, self.cached),
                stop_sequence=self.pipeline.stop_sequence,
                timings=Timings(
                    queued_ns=0, prompt_ns=self.t_first - self.t_submit, generation_ns=now - self.t_first
                ),
            )
        )

    def on_error(self, error: Exception) -> None:
        self._post(error if isinstance(error, Exception) else GenerationFailed(str(error)))

    def _logprob(self, token: int, raw: RawLogprob) -> TokenLogprob:
        def text_of(t: int) -> tuple[str, tuple[int, ...]]:
            data = self.backend.token_bytes(t)
            return data.decode("utf-8", errors="replace"), tuple(data)

        text, data = text_of(token)
        top = tuple((*text_of(t)[:1], lp, text_of(t)[1]) for t, lp in raw.top)
        return TokenLogprob(text, raw.logprob, data, top)


def _make_backend(resolved: Any, name: str, settings: EngineSettings) -> Backend:
    choice = settings.backend
    if choice == "auto":
        choice = "llama.cpp" if resolved.format == "gguf" else "transformers"
    if choice == "llama.cpp":
        if resolved.format != "gguf":
            raise InvalidRequest(f"the llama.cpp backend needs a GGUF model; {resolved.path} is not one")
        from ..backends.llama_cpp import LlamaCppBackend
        from ..backends.llama_cpp.backend import LlamaCppSettings

        return LlamaCppBackend(
            resolved.path,
            name,
            LlamaCppSettings(
                n_ctx=settings.context_length,
                n_parallel=settings.parallel,
                n_threads=settings.threads,
                n_batch=settings.batch_size,
                max_queue=settings.max_queue,
            ),
        )
    from .errors import ModelLoadError

    if choice == "transformers":
        if resolved.format != "hf":
            raise InvalidRequest(
                f"the transformers backend needs a Hugging Face model folder; {resolved.path} is not one"
            )
        from ..backends.transformers.loading import require_extra

        require_extra()  # one clear line when the extra is missing, before anything imports torch
        from ..backends.transformers.backend import TransformersBackend, TransformersSettings

        return TransformersBackend(
            resolved.path,
            name,
            TransformersSettings(
                device=settings.device,
                dtype=settings.dtype,
                trust_remote_code=settings.trust_remote_code,
                allow_pickle=settings.allow_pickle,
                n_ctx=settings.context_length,
                parallel=settings.parallel,
                threads=settings.threads,
                chunk_size=settings.batch_size,
                max_queue=settings.max_queue,
            ),
        )
    raise ModelLoadError(f"backend '{choice}' is not available in this build (model: {resolved.path})")


def _aliases_for(resolved_name: str, requested: str | None, served_name: str | None) -> tuple[str, ...]:
    names = {resolved_name}
    if requested:
        names.add(requested)
    names.discard(served_name or resolved_name)
    return tuple(sorted(names))
