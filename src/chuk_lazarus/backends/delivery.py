"""Hand events from a backend thread to asyncio queues, waking the event loop once per burst.

`loop.call_soon_threadsafe` per token costs a self-pipe write and a GIL hand-off each time; with 16
sequences decoding together that is 16 wake-ups per step, and the loop thread wakes between them.
A backend that produces tokens in steps wraps each step in `batched_delivery()`: everything posted
inside is delivered, in order, with one wake-up per event loop when the block ends. Outside such a
block a post wakes the loop at once (items posted while a wake-up is pending ride along with it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_batching = threading.local()


@contextmanager
def batched_delivery() -> Iterator[None]:
    pending: set[LoopPoster] = set()
    _batching.pending = pending
    try:
        yield
    finally:
        _batching.pending = None
        _wake_all(pending)


def deliver_now() -> None:
    """Inside `batched_delivery()`: wake the loops for what was posted so far, instead of at the end of
    the block (a first token that should not wait for the rest of an admission round)."""
    pending = getattr(_batching, "pending", None)
    if pending:
        _wake_all(pending)
        pending.clear()


def _wake_all(posters: set[LoopPoster]) -> None:
    for poster in posters:
        try:
            poster.wake()
        except RuntimeError:  # that loop is closed; its requests are gone
            pass


class LoopPoster:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: list[tuple[asyncio.Queue[Any], Any]] = []
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, queue: asyncio.Queue[Any], item: Any) -> None:
        """Called from any thread. Raises RuntimeError when the loop is closed."""
        if self.loop.is_closed():
            raise RuntimeError("Event loop is closed")
        with self._lock:
            self._items.append((queue, item))
        pending = getattr(_batching, "pending", None)
        if pending is not None:
            pending.add(self)
        else:
            self.wake()

    def wake(self) -> None:
        with self._lock:
            if self._scheduled or not self._items:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            with self._lock:
                self._scheduled = False
                self._items.clear()
            raise

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        for queue, item in items:
            queue.put_nowait(item)
