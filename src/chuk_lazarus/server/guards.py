"""ASGI middleware around every route: the Host check (DNS rebinding) and the last-resort 500.

Host check, as Ollama does it: a server bound to a loopback address answers only requests whose `Host`
names a loopback host (`localhost`, `*.localhost`, `127.x.x.x`, `::1`, with any port) or a name given
with `--allowed-hosts`; anything else is a 403 in the protocol's shape, `/health` included (a page
in a browser that rebinds its own name to 127.0.0.1 must not read even that). A request without a
`Host` header (HTTP/1.0) cannot come from a browser and is let through.

The last-resort handler: an exception that escapes a route before its response started becomes the
protocol's internal error. Starlette's own `Exception` handler answers too, but then re-raises, and
uvicorn drops the connection; this one does not re-raise.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.errors import Forbidden, GenerationFailed

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address or a Host header's name, without port) is a loopback host."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header: `[::1]:8080` -> `::1`, `Example.COM.:80` -> `example.com`."""
    value = header.strip()
    if value.startswith("["):
        name = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        name = value.split(":", 1)[0]
    else:
        name = value  # no port, or a bare IPv6 address
    return name.rstrip(".").lower()


class HostCheck:
    """Refuses requests whose Host is neither loopback nor in `allowed` (`*` in `allowed`: any)."""

    def __init__(self, app: ASGIApp, *, allowed: Iterable[str], respond: Callable[[str, Exception], Response]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed}
        self.respond = respond

    def allows(self, header: str | None) -> bool:
        if header is None or "*" in self.allowed:
            return True
        name = host_name(header)
        return is_loopback(name) or name in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not self.allows(header):
                log.warning("refused a request for Host %r (not loopback, not in --allowed-hosts)", header)
                error = Forbidden(
                    f"the Host header {header!r} is not allowed: this server answers loopback names only; "
                    "start it with --allowed-hosts to add names"
                )
                await self.respond(scope["path"], error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CatchUnexpected:
    """An exception escaping the app before the response started: the protocol's 500, connection kept."""

    def __init__(self, app: ASGIApp, *, respond: Callable[[str, Exception], Response]) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:  # half a response is out: nothing honest can follow it
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope["path"])
            await self.respond(scope["path"], GenerationFailed("internal server error"))(scope, receive, send)
