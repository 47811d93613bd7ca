"""`RequestTracking`: the outermost ASGI middleware. Every request gets an id and a record; when its
response is over (a stream's last frame included) it gets one access line and its metrics.

The id is the client's `x-request-id` when that is a safe one (request_context.py), else ours; it goes
back on every response, errors and refusals by the middlewares inside this one included.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import request_context
from .metrics import ServingMetrics
from .request_context import REQUEST_ID_HEADER, RequestRecord

access_log = logging.getLogger("chuk_lazarus.access")

# Probes and scrapes come every few seconds: their lines are debug-level, so the access log stays about
# the traffic.
PROBE_PATHS = frozenset({"/health", "/ready", "/metrics"})


class RequestTracking:
    def __init__(
        self,
        app: ASGIApp,
        *,
        protocol_of: Callable[[str, Headers], str],
        metrics: Callable[[], ServingMetrics | None],
    ) -> None:
        self.app = app
        self.protocol_of = protocol_of
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        record = RequestRecord(
            request_id=request_context.request_id_from(headers.get(REQUEST_ID_HEADER)),
            method=scope["method"],
            path=scope["path"],
            protocol=self.protocol_of(scope["path"], headers),
        )
        scope.setdefault("state", {})["record"] = record
        id_header = (REQUEST_ID_HEADER.encode(), record.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        token = request_context.begin(record)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_context.end(token)
            self._over(record)

    def _over(self, record: RequestRecord) -> None:
        metrics = self.metrics()
        if metrics is not None and record.path not in PROBE_PATHS:
            metrics.request_over(record)
        level = logging.DEBUG if record.path in PROBE_PATHS else logging.INFO
        if access_log.isEnabledFor(level):
            fields = access_fields(record)
            access_log.log(level, format_fields(fields), extra={"access": fields})


def access_fields(record: RequestRecord) -> dict[str, Any]:
    """What one access line says. Never the prompt or the output."""
    finishes = record.finishes
    ttft = min(((f.timings.queued_ns + f.timings.prompt_ns) / 1e6 for f in finishes), default=None)
    return {
        "request_id": record.request_id,
        "protocol": record.protocol,
        "method": record.method,
        "route": record.path,
        "model": record.model,
        "status": record.status if record.status is not None else 499,  # no response: the client left
        "prompt_tokens": sum(f.usage.prompt_tokens for f in finishes),
        "completion_tokens": sum(f.usage.completion_tokens for f in finishes),
        "cached_tokens": sum(f.usage.cached_prompt_tokens for f in finishes),
        "ttft_ms": round(ttft, 1) if ttft is not None else None,
        "total_ms": round(record.seconds * 1000, 1),
        "finish_reason": ",".join(f.reason for f in finishes) or None,
        "error": record.error,
    }


def format_fields(fields: dict[str, Any]) -> str:
    """`key=value ...`; a value with spaces, quotes or control characters is JSON-quoted, so nothing a
    client sends (a model name with a newline) can start a line of its own."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c.isspace() or c in '"=\\' or not c.isprintable() for c in text):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)
