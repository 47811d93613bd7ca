"""A client that disconnects before a non-streaming answer cancels its generation, in every protocol.

httpx's ASGITransport cannot hang up, so these drive the ASGI app directly: `receive` hands over the
body, then reports `http.disconnect` once every generation is waiting for its next event (the engine is
a `FakeEngine` whose generations never end by themselves). Without the cancellation the app would wait
forever; `DEADLINE_S` bounds that (the app returns within milliseconds when it works).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from tests.fakes import MODEL, FakeEngine, make_app

DEADLINE_S = 10.0
MESSAGES = [{"role": "user", "content": "hi"}]


async def call_then_hang_up(
    app: Any, path: str, body: dict[str, Any], *, gone_when: Any
) -> list[dict[str, Any]]:
    """POST `body` to `path`; hang up once `gone_when()` is true. Returns the ASGI messages sent."""
    payload = json.dumps(body).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        while not gone_when():
            await asyncio.sleep(0.001)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), DEADLINE_S)
    return sent


def generating(engine: FakeEngine) -> Any:
    return lambda: len(engine.streams) == 1 and engine.streams[0].waiting


def status_of(sent: list[dict[str, Any]]) -> int:
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


CASES = [
    ("openai", "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES}, 1),
    ("openai", "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "n": 3}, 3),
    ("anthropic", "/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": MESSAGES}, 1),
    ("ollama", "/api/chat", {"model": MODEL, "messages": MESSAGES, "stream": False}, 1),
    ("ollama", "/api/generate", {"model": MODEL, "prompt": "hi", "stream": False}, 1),
    # A stream waits for its first event before it answers (the pipeline's rule for every protocol),
    # so a disconnect is watched for there too.
    ("ollama", "/api/chat", {"model": MODEL, "messages": MESSAGES}, 1),
    ("openai", "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "stream": True, "n": 2}, 2),
    ("anthropic", "/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": MESSAGES, "stream": True}, 1),
]


@pytest.mark.parametrize(("protocol", "path", "body", "n"), CASES)
async def test_disconnect_cancels_every_generation_of_the_request(
    protocol: str, path: str, body: dict[str, Any], n: int, caplog: pytest.LogCaptureFixture
) -> None:
    engine = FakeEngine(events=[], hang=True)
    app = make_app(engine, (protocol,))
    with caplog.at_level(logging.INFO, logger="chuk_lazarus"):
        sent = await call_then_hang_up(app, path, body, gone_when=generating(engine))
    # One generation holds all n choices (planned once); closing it cancels every one of them.
    assert [(g.n, g.cancelled, g.closed) for g in engine.streams] == [(n, True, True)]
    # Nobody reads it, but it must not look like a server failure.
    assert status_of(sent) == 499
    assert "the client disconnected" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_finished_answer_is_sent_even_if_the_client_is_going_away() -> None:
    # The work wins the race: its result stands, and the disconnect watcher does not outlive it.
    engine = FakeEngine()
    app = make_app(engine, ("openai",))
    sent = await call_then_hang_up(app, "/v1/chat/completions", {"model": MODEL, "messages": MESSAGES},
                                   gone_when=lambda: False)  # fmt: skip
    assert status_of(sent) == 200
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["choices"][0]["message"]["content"] == "Hello world"


async def test_disconnect_while_uploading_the_body_is_not_a_server_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = FakeEngine()
    app = make_app(engine, ("openai",))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
        "root_path": "", "headers": [(b"content-type", b"application/json")], "server": ("test", 80),
    }  # fmt: skip
    messages = [
        {"type": "http.request", "body": b'{"model": "', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="chuk_lazarus"):
        await asyncio.wait_for(app(scope, receive, send), DEADLINE_S)
    assert status_of(sent) == 499
    assert engine.requests == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
