"""Embeddings, once for every backend: a bounded queue and one worker thread that batches across requests.

A backend supplies an `EmbedRunner`: how to turn one batch of token lists into one pooled vector each
(llama.cpp: an embedding `llama_context`, one sequence id per input; transformers: a padded forward
pass). This module owns the rest:

  - admission is bounded like generation's: past `max_queue` waiting requests, `submit` raises
    `Overloaded` at once;
  - the worker drains whatever is queued into batches of at most `max_seqs` inputs and `max_tokens`
    tokens, so concurrent requests share forward passes and a large request is split across several;
  - every vector is L2-normalized; a request's future resolves when its last input is done;
  - a failed batch fails the requests in it (`GenerationFailed`), never the thread.

It runs on its own thread, not the generation scheduler's, so an embedding batch never waits for a
decode step (nor a decode step for a whole embedding batch); they share the CPU cores.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..core.errors import GenerationFailed, Overloaded

log = logging.getLogger(__name__)


class EmbedRunner(Protocol):
    """One backend's embedding forward pass. Every method runs on the embedding worker thread."""

    def worker(self) -> AbstractContextManager[None]:
        """Entered on the worker thread around each batch (e.g. torch.inference_mode)."""

    def run(self, batch: list[list[int]]) -> np.ndarray:
        """One pooled, not yet normalized vector per token list: shape (len(batch), dims)."""

    def close(self) -> None:
        """Free what the runner holds; called on the worker thread, once."""


@dataclass(eq=False)
class _Request:
    inputs: list[list[int]]
    future: Future[list[list[float]]]
    vectors: list[list[float] | None] = field(default_factory=list)
    left: int = 0  # inputs not yet embedded
    failed: bool = False


class EmbedBatcher:
    """The queue and worker thread. `submit`/`close`: any thread.

    `make_runner` is called on the worker thread when the first batch arrives (`eager=False`: a chat
    model's embedding context costs memory only once someone embeds), or at once in the constructor
    (`eager=True`: a dedicated embedding model, whose load should fail at startup, not on a request).
    """

    def __init__(
        self,
        make_runner: Callable[[], EmbedRunner],
        *,
        max_seqs: int,
        max_tokens: int,
        max_queue: int,
        name: str,
        eager: bool = False,
    ) -> None:
        self.max_seqs = max_seqs
        self.max_tokens = max_tokens
        self.max_queue = max_queue
        self._make_runner = make_runner
        self._runner: EmbedRunner | None = make_runner() if eager else None
        self._waiting: collections.deque[_Request] = collections.deque()
        # Inputs of admitted requests not yet in a batch: (request, index). `_cond` guards both.
        self._items: collections.deque[tuple[_Request, int]] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self.batches = 0  # batches run, for tests and stats
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, inputs: list[list[int]]) -> Future[list[list[float]]]:
        """Queue `inputs` (each non-empty and at most `max_tokens` long); the future's result is one
        normalized vector per input. Raises `Overloaded` when the queue is full or closing."""
        for tokens in inputs:
            if not tokens or len(tokens) > self.max_tokens:
                raise ValueError(f"an embedding input must have 1 to {self.max_tokens} tokens")
        future: Future[list[list[float]]] = Future()
        request = _Request(list(inputs), future, [None] * len(inputs), len(inputs))
        if not inputs:
            future.set_result([])
            return future
        with self._cond:
            if self._closing:
                raise Overloaded("the server is shutting down")
            if len(self._waiting) >= self.max_queue:
                raise Overloaded(f"the embedding queue is full ({self.max_queue} waiting); retry shortly")
            self._waiting.append(request)
            self._cond.notify()
        return future

    def close(self) -> None:
        """Stop the worker; requests still queued fail with `Overloaded` (shutting down)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout=30)

    # -- the worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            self._run_batch(batch)
        self._shut_down()

    def _next_batch(self) -> list[tuple[_Request, int]] | None:
        """The next batch in arrival order: whole requests when they fit, else a large one's inputs
        split across batches. None once closing."""
        with self._cond:
            while not self._closing and not self._waiting and not self._items:
                self._cond.wait()
            if self._closing:
                return None
            while self._waiting:  # admitted requests' inputs join the batching line in order
                request = self._waiting.popleft()
                self._items.extend((request, i) for i in range(len(request.inputs)))
            batch: list[tuple[_Request, int]] = []
            tokens = 0
            while self._items and len(batch) < self.max_seqs:
                request, index = self._items[0]
                size = len(request.inputs[index])
                if batch and tokens + size > self.max_tokens:
                    break
                self._items.popleft()
                if request.failed or request.future.cancelled():
                    continue
                batch.append((request, index))
                tokens += size
            return batch

    def _run_batch(self, batch: list[tuple[_Request, int]]) -> None:
        if not batch:
            return
        try:
            if self._runner is None:
                self._runner = self._make_runner()
            with self._runner.worker():
                raw = self._runner.run([request.inputs[index] for request, index in batch])
            vectors = _normalized(np.asarray(raw, dtype=np.float32))
        except Exception as exc:  # a failed batch fails its requests, never the thread
            log.exception("embedding batch failed")
            error = exc if isinstance(exc, GenerationFailed) else GenerationFailed(f"embedding failed: {exc}")
            for request, _ in batch:
                self._fail(request, error)
            return
        self.batches += 1
        for (request, index), vector in zip(batch, vectors):
            if request.failed:
                continue
            request.vectors[index] = vector.tolist()
            request.left -= 1
            if request.left == 0 and not request.future.done():
                request.future.set_result([v for v in request.vectors if v is not None])

    def _fail(self, request: _Request, error: Exception) -> None:
        if not request.failed:
            request.failed = True
            if not request.future.done():
                request.future.set_exception(error)

    def _shut_down(self) -> None:
        with self._cond:
            pending = [*self._waiting, *(request for request, _ in self._items)]
            self._waiting.clear()
            self._items.clear()
        for request in pending:
            self._fail(request, Overloaded("the server is shutting down"))
        if self._runner is not None:
            try:
                self._runner.close()
            except Exception:
                log.exception("could not free the embedding runner")
            self._runner = None


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
