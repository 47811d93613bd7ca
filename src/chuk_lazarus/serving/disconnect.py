"""Cancelling a non-streaming generation when its client goes away.

A streaming response notices a departed client when a write fails, and closing its event stream frees
the sequence. A non-streaming handler writes nothing until the generation is complete, so without this
it would decode to `max_tokens` for nobody, holding a slot (n of them for OpenAI's `n`).

`cancel_on_disconnect` races the work against the ASGI `http.disconnect` message, as vllm's
`with_cancellation` does: awaiting `receive()` rather than polling `Request.is_disconnected()`, so the
disconnect is seen at once and nothing spins. Cancelling the work cancels the engine's event streams
(`EventStream` cancels its job when its waiter is cancelled), so the backend frees the slot within one
step. The handler then raises `starlette.requests.ClientDisconnect`, which the app answers with a bodiless
499 that nobody reads, the status nginx logs for "client closed request".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request

T = TypeVar("T")

# nginx's "client closed request": never seen by the client, but it is what access logs and tests see.
CLIENT_CLOSED_REQUEST = 499


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`; if the client disconnects first, cancel it and raise `ClientDisconnect`.

    Call it only after the request body has been read: it consumes the request's remaining ASGI
    messages while it waits for the disconnect.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when this handler is itself cancelled: neither may outlive the request.
        watcher.cancel()
        if not task.done():
            task.cancel()
            # Let the work's cleanup (its streams cancelling their sequences) run before answering.
            await asyncio.wait((task,))
    try:
        return task.result()  # finished first (or failed): its result or error stands
    except asyncio.CancelledError:
        # We cancelled it (a cancelled gather() reports CancelledError as its exception, so
        # `task.cancelled()` would not tell). Our own cancellation was re-raised by `finally` above.
        pass
    if watcher.done() and not watcher.cancelled() and (error := watcher.exception()) is not None:
        raise error  # receive() itself failed: not a disconnect, so not answered as one
    raise ClientDisconnect()


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
