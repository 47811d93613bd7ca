"""The engine's end of a backend job: sampled tokens -> neutral events -> the request's asyncio queue.

Runs on the backend's thread, one sink per choice. Text goes through the `OutputPipeline` (UTF-8
reassembly, stop strings, tool-call parsing); every event is posted with its choice index through the
loop's `LoopPoster`, which the backend's batched delivery wakes once per step.
"""

from __future__ import annotations

import asyncio
import time

from ..backends.base import Backend, BackendFinish, RawLogprob
from ..backends.delivery import LoopPoster
from ..core.errors import GenerationFailed, InvalidRequest
from ..core.types import Finish, FinishReason, TextDelta, Timings, TokenLogprob, ToolCallStart, Usage
from .generation import Posted
from .output import OutputPipeline
from .prompt import PromptPlan

_CANCELLED = {
    "cancelled": "the generation was cancelled: its client went away",
    "shutdown": "the generation was cancelled: the server is shutting down",
}


class QueueSink:
    """A `TokenSink` for choice `index` of one request."""

    def __init__(
        self,
        poster: LoopPoster,
        queue: asyncio.Queue[tuple[int, Posted]],
        index: int,
        backend: Backend,
        plan: PromptPlan,
        stops: tuple[str, ...],
        *,
        echo: bool = False,
    ) -> None:
        self.poster = poster
        self.queue = queue
        self.index = index
        self.backend = backend
        thinking = plan.reasoning
        self.pipeline = OutputPipeline(
            stops,
            plan.make_parser(),
            thinking.splitter() if thinking is not None else None,
            hide_reasoning=thinking is not None and thinking.disabled,
        )
        # Reasoning markup that is control tokens (no text of their own): written out for the splitter.
        self.visible = thinking.model.visible if thinking is not None else frozenset()
        self.n_prompt = len(plan.tokens)
        self.plan = plan
        self.echo = echo
        self.prompt_logprobs: tuple[RawLogprob, ...] | None = None
        self.cached = 0
        self.saw_tool_call = False
        self.t_submit = time.perf_counter_ns()
        self.t_admitted = self.t_submit
        self.t_first = self.t_submit
        self.t_last = self.t_submit
        self.ticks = 0  # tokens the backend generated so far
        self.gaps: list[int] = []  # between each token and the one before (not the first: that is prefill)

    def _post(self, item: Posted) -> None:
        if isinstance(item, ToolCallStart):
            self.saw_tool_call = True
        self.poster.post(self.queue, (self.index, item))

    def on_admitted(self) -> None:
        self.t_admitted = self.t_first = time.perf_counter_ns()

    def on_prompt_logprobs(self, logprobs: tuple[RawLogprob, ...]) -> None:
        self.prompt_logprobs = logprobs

    def on_prompt_done(self, cached_tokens: int) -> None:
        self.cached = cached_tokens
        self.t_first = time.perf_counter_ns()
        if self.echo:  # the prompt opens the output, outside the stop-string scan
            self._post(TextDelta(self.plan.text, self._echo_logprobs()))

    def _echo_logprobs(self) -> tuple[TokenLogprob, ...]:
        """The echoed prompt tokens' logprobs; the first token of the prompt has none (None)."""
        raw = self.prompt_logprobs
        if raw is None:
            return ()
        out = []
        for position in range(self.plan.echo_from, len(self.plan.tokens)):
            token = self.plan.tokens[position]
            if position == 0:
                text, data = self._text_of(token)
                out.append(TokenLogprob(text, None, data))
            else:
                out.append(self._logprob(token, raw[position - 1]))
        return tuple(out)

    def on_token(self, token: int, piece: bytes, logprob: RawLogprob | None) -> bool:
        self._tick()
        if not piece and token in self.visible:
            piece = self.backend.token_bytes(token)
        events, keep_going = self.pipeline.push(piece, self._logprob(token, logprob) if logprob else None)
        for event in events:
            self._post(event)
        return keep_going

    def _tick(self) -> None:
        now = time.perf_counter_ns()
        if self.ticks:
            self.gaps.append(now - self.t_last)
        self.ticks += 1
        self.t_last = now

    def on_finish(self, reason: BackendFinish, completion_tokens: int) -> None:
        if completion_tokens > self.ticks:  # the end-of-generation token, counted but never delivered
            self._tick()
        if reason in _CANCELLED:
            self._post(GenerationFailed(_CANCELLED[reason]))
            return
        try:
            for event in self.pipeline.finish():
                self._post(event)
        except InvalidRequest as exc:  # the output could not be read (a malformed forced tool call)
            self._post(exc)
            return
        finish_reason: FinishReason = "length" if reason == "length" else ("tool_calls" if self.saw_tool_call else "stop")
        now = time.perf_counter_ns()
        timings = Timings(
            queued_ns=self.t_admitted - self.t_submit,
            prompt_ns=self.t_first - self.t_admitted,
            generation_ns=now - self.t_first,
            token_gaps_ns=tuple(self.gaps),
        )
        usage = Usage(self.n_prompt, completion_tokens, self.cached, self.pipeline.reasoning_tokens)
        self._post(Finish(finish_reason, usage, stop_sequence=self.pipeline.stop_sequence, timings=timings))

    def on_error(self, error: Exception) -> None:
        self._post(error)

    def _text_of(self, token: int) -> tuple[str, tuple[int, ...]]:
        data = self.backend.token_bytes(token)
        return data.decode("utf-8", errors="replace"), tuple(data)

    def _logprob(self, token: int, raw: RawLogprob) -> TokenLogprob:
        text, data = self._text_of(token)
        top = tuple((*self._text_of(t)[:1], lp, self._text_of(t)[1]) for t, lp in raw.top)
        return TokenLogprob(text, raw.logprob, data, top)
