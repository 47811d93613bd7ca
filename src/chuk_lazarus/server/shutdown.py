"""Graceful shutdown: on SIGTERM refuse new work (503 + Retry-After), let accepted requests finish
(bounded), then stop uvicorn and exit 0.

uvicorn on its own closes the listening socket at once (new clients get "connection refused", not a
retryable answer) and re-raises SIGTERM after its shutdown, so the process never exits 0. Here the
socket stays open while the engine drains: new requests get the protocol's "overloaded" error with
`Retry-After` (readiness.py), `/health` and `/ready` answer 503, and streams already running complete
with their finish reason.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from types import FrameType
from typing import Any

import uvicorn

from ..engine.client import EngineClient

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose SIGTERM drains the engine first (at most `drain_timeout` seconds)."""

    def __init__(self, config: uvicorn.Config, *, state: Any, drain_timeout: float) -> None:
        super().__init__(config)
        self.state = state  # the app's: `engine` (None while loading) and `shutting_down`
        self.drain_timeout = drain_timeout
        self.loop: asyncio.AbstractEventLoop | None = None
        self.draining = False

    async def serve(self, sockets: Any = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.draining or self.loop is None:
            # SIGINT keeps uvicorn's behaviour; a second SIGTERM stops without waiting any longer.
            if sig == signal.SIGTERM:
                self.should_exit = self.force_exit = True
            else:
                super().handle_exit(sig, frame)
            return
        self.draining = True
        self.state.shutting_down = True
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        engine: EngineClient | None = self.state.engine
        if engine is not None:
            await self._wait_for(engine)
        # The last events are queued for their responses; uvicorn's own shutdown waits for those.
        self.should_exit = True

    async def _wait_for(self, engine: EngineClient) -> None:
        log.info("SIGTERM: refusing new requests, finishing %s in flight", engine.load_stats())
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            load = engine.load_stats()
            if not load.active and not load.queued:
                return
            await asyncio.sleep(0.05)
        log.warning("drain timeout (%.0fs) reached; stopping with requests still running", self.drain_timeout)
