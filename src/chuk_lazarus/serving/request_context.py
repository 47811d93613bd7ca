"""One record per HTTP request: its id, what it asked for, how it ended.

`RequestTracking` (serving/tracking.py) makes the record when the request arrives and reads it when the
response is over: one access line, the request-level metrics. In between, the pipeline adds each
choice's `Finish` and the error table notes the kind of error it answered. The record is reachable two
ways: from the request (`record_of`), and, for code that has no request (a protocol's error body, a
log line), from a context variable set for the request's task and the tasks it starts.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.requests import Request

from ..core.errors import LazarusError
from ..core.ids import random_id
from ..core.types import Finish

REQUEST_ID_HEADER = "x-request-id"
# An id a client sends is kept when it is short and printable, with no spaces or quotes: it is echoed in
# headers, ids and log lines, so anything else (a forged log line) is replaced by one of ours.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._~:@/+=-]{1,128}$")


@dataclass
class RequestRecord:
    request_id: str
    method: str
    path: str
    protocol: str
    started: float = field(default_factory=time.perf_counter)
    model: str | None = None  # the model the request named, once a route has read it
    status: int | None = None
    finishes: list[Finish] = field(default_factory=list)  # one per finished choice
    aborted: int = 0  # choices that never finished (the client left, or the generation failed)
    error: str | None = None  # the kind of error answered (`error_kind`), in a response or mid-stream

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


_current: ContextVar[RequestRecord | None] = ContextVar("lazarus_request", default=None)


def request_id_from(header: str | None) -> str:
    """The client's id when it is a safe one, else a new one."""
    if header is not None and _CLIENT_ID.match(header):
        return header
    return random_id("")


def begin(record: RequestRecord) -> object:
    """Make `record` the current request's; returns the token `end` takes."""
    return _current.set(record)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def current_request_id() -> str | None:
    record = _current.get()
    return record.request_id if record else None


def prefixed_request_id(prefix: str) -> str:
    """`prefix` and the current request's id; a random one outside a request (programmatic use)."""
    return prefix + (current_request_id() or random_id(""))


def record_of(request: Request) -> RequestRecord | None:
    record: RequestRecord | None = getattr(request.state, "record", None)
    return record


def note_model(model: str) -> None:
    """The model the current request named, for its access line (each protocol's model check calls
    this, so a request for a model not served is logged with the name it asked for)."""
    record = _current.get()
    if record is not None:
        record.model = model


def error_kind(exc: BaseException) -> str:
    """A protocol-neutral name for an error: its class in snake case (`InvalidRequest` ->
    `invalid_request`); `internal` for anything that is not one of ours."""
    if not isinstance(exc, LazarusError):
        return "internal"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def note_error(exc: BaseException) -> None:
    record = _current.get()
    if record is not None:
        record.error = error_kind(exc)
