"""uvicorn's h11 protocol with a deadline for a request's line and headers.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a request whose headers
arrive slowly: a client sending one byte a minute holds its connection for ever, and enough of them
reach `limit_concurrency`. Here each connection must have sent a complete request head within
`header_timeout_s` of opening, or of the previous response finishing; otherwise it gets a bare 408
and is closed. (The body has its own deadline, `--body-timeout`, in `serving/body.py`.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_RESPONSE = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


def header_deadline_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """The protocol class to pass as uvicorn's `http=`."""

    class HeaderDeadlineH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            self._header_timer = None
            # IDLE: h11 has not seen a whole request head since the timer was armed.
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.transport.write(_TIMEOUT_RESPONSE)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            self._arm()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

    return HeaderDeadlineH11
