"""The bounded admission queue every backend scheduler shares: submit from any thread, refuse when full."""

from __future__ import annotations

import collections
import threading

from ..core.errors import Overloaded
from .base import BackendJob


class AdmissionQueue:
    """Jobs waiting for the worker thread. `cond` guards `queue` and `closing` and wakes the worker."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.queue: collections.deque[BackendJob] = collections.deque()
        self.cond = threading.Condition()
        self.closing = False

    def submit(self, job: BackendJob) -> None:
        """Queue `job`, or raise `Overloaded` at once (queue full, or shutting down)."""
        with self.cond:
            if self.closing:
                raise Overloaded("the server is shutting down")
            if len(self.queue) >= self.max_queue:
                raise Overloaded(f"the request queue is full ({self.max_queue} waiting); retry shortly")
            self.queue.append(job)
            self.cond.notify()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify()
