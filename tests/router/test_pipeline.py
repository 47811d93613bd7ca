"""The one serving pipeline, the same way for every protocol: exact frames, when the 200 is committed,
keepalive, interleaved choices, in-stream errors. A scripted engine, in process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from chuk_lazarus.core.errors import GenerationFailed, InvalidRequest
from chuk_lazarus.core.types import Event, Finish, TextDelta, Usage
from tests.fakes import MODEL, FakeEngine, FakeGeneration, make_app, text_events

MESSAGES = [{"role": "user", "content": "hi"}]
# protocol -> (path, body of a streaming request)
STREAMING: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", {"model": MODEL, "messages": MESSAGES, "stream": True}),
    "anthropic": ("/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": MESSAGES, "stream": True}),
    "ollama": ("/api/chat", {"model": MODEL, "messages": MESSAGES}),
}


async def post(engine: FakeEngine, protocol: str, body: dict[str, Any] | None = None, **app_kw: Any) -> httpx.Response:
    path, default = STREAMING[protocol]
    app = make_app(engine, (protocol,), **app_kw)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lazarus") as client:
        return await client.post(path, json=body or default)


def frames(protocol: str, response: httpx.Response) -> list[Any]:
    """The payloads in order: SSE `data` (JSON, or the raw string), or NDJSON objects; comments as ':'."""
    if protocol == "ollama":
        return [json.loads(line) for line in response.text.splitlines() if line]
    out: list[Any] = []
    for block in response.text.split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            out.append(":")
            continue
        data = next(line[6:] for line in block.split("\n") if line.startswith("data: "))
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def shapes(protocol: str, response: httpx.Response) -> list[str]:
    """Each frame reduced to what it is, so one list states a whole stream."""
    out = []
    for f in frames(protocol, response):
        if f in (":", "[DONE]"):
            out.append(f)
        elif protocol == "openai":
            if "error" in f:
                out.append("error")
            elif not f["choices"]:
                out.append("usage")
            else:
                choice = f["choices"][0]
                delta = choice["delta"]
                what = "finish" if choice["finish_reason"] else ("role" if "role" in delta else delta.get("content"))
                out.append(f"{choice['index']}:{what}")
        elif protocol == "anthropic":
            delta = f.get("delta", {})
            out.append(f["type"] + (f":{delta['text']}" if "text" in delta else ""))
        else:
            out.append("error" if "error" in f else ("done" if f["done"] else f["message"]["content"]))
    return out


EXACT = {
    "openai": ["0:role", "0:Hel", "0:lo", "0:finish", "[DONE]"],
    "anthropic": ["message_start", "content_block_start", "ping", "content_block_delta:Hel",
                  "content_block_delta:lo", "content_block_stop", "message_delta", "message_stop"],
    "ollama": ["Hel", "lo", "done"],
}  # fmt: skip


@pytest.mark.parametrize("protocol", EXACT)
async def test_a_stream_is_exactly_the_protocols_frames(protocol: str) -> None:
    engine = FakeEngine(events=text_events("Hel", "lo"))
    response = await post(engine, protocol)
    assert response.status_code == 200
    assert shapes(protocol, response) == EXACT[protocol]
    assert engine.streams[0].closed


@pytest.mark.parametrize("protocol", EXACT)
async def test_an_error_before_the_first_event_is_a_plain_http_error(protocol: str) -> None:
    # A failure the backend reports before any output (a grammar it cannot compile) is still an
    # answer about the request: the protocol's 400, not a 200 with an error inside.
    engine = FakeEngine(events=[], mid_stream_error=InvalidRequest("the grammar does not compile"))
    response = await post(engine, protocol)
    assert response.status_code == 400
    assert "the grammar does not compile" in response.text
    assert engine.streams[0].closed


IN_STREAM_ERROR = {
    "openai": ["0:role", "0:par", "error", "[DONE]"],
    "anthropic": ["message_start", "content_block_start", "ping", "content_block_delta:par", "error"],
    "ollama": ["par", "error"],
}  # fmt: skip


@pytest.mark.parametrize("protocol", IN_STREAM_ERROR)
async def test_an_error_after_the_first_event_is_the_protocols_error_frame(protocol: str) -> None:
    engine = FakeEngine(events=[TextDelta("par")], mid_stream_error=GenerationFailed("backend died"))
    response = await post(engine, protocol)
    assert response.status_code == 200
    assert shapes(protocol, response) == IN_STREAM_ERROR[protocol]
    assert "backend died" in response.text
    assert engine.streams[0].closed


class SilentFirst(FakeGeneration):
    """Silent until the first wait has timed out twice, then the scripted events."""

    timeouts = 0

    async def next(self, timeout: float | None = None) -> tuple[int, Event] | None:
        if self.timeouts < 2 and timeout is not None:
            self.timeouts += 1
            await asyncio.sleep(timeout)
            return None
        return await super().next(timeout)


class SilentEngine(FakeEngine):
    async def start(self, request: Any) -> FakeGeneration:
        self.requests.append(request)
        generation = SilentFirst(self.events, None, n=request.n)
        self.streams.append(generation)
        return generation


KEEPALIVE = {
    "openai": ["0:role", ":", ":", "0:x", "0:finish", "[DONE]"],
    "anthropic": ["message_start", "ping", "ping", "content_block_start", "content_block_delta:x",
                  "content_block_stop", "message_delta", "message_stop"],
    "ollama": ["", "", "x", "done"],  # an empty, not-done chunk: NDJSON has no comments
}  # fmt: skip


@pytest.mark.parametrize("protocol", KEEPALIVE)
async def test_silence_commits_the_stream_and_sends_keepalives(protocol: str) -> None:
    # The first timed-out wait commits the 200 (a long prompt or a full queue must not leave the
    # client with nothing); each silence is one keepalive frame.
    response = await post(SilentEngine(events=text_events("x")), protocol, keepalive_s=0.01)
    assert response.status_code == 200
    assert shapes(protocol, response) == KEEPALIVE[protocol]
    if protocol == "openai":
        assert "\n\n: keepalive\n\n" in response.text  # an SSE comment, which every SSE parser skips


async def test_n_choices_are_interleaved_as_generated_and_usage_counts_the_prompt_once() -> None:
    engine = FakeEngine(events=[TextDelta("a"), TextDelta("b"), Finish("stop", Usage(5, 2))])
    body = {**STREAMING["openai"][1], "n": 2, "stream_options": {"include_usage": True}}
    response = await post(engine, "openai", body)
    assert shapes("openai", response) == [
        "0:role", "1:role", "0:a", "1:a", "0:b", "1:b", "0:finish", "1:finish", "usage", "[DONE]",
    ]  # fmt: skip
    usage = next(f for f in frames("openai", response) if isinstance(f, dict) and not f["choices"])["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (5, 4)


@pytest.mark.parametrize("protocol", EXACT)
async def test_a_stream_that_ends_without_a_finish_is_an_error_not_a_truncation(protocol: str) -> None:
    response = await post(FakeEngine(events=[TextDelta("a")]), protocol)
    assert shapes(protocol, response)[-2 if protocol == "openai" else -1] == "error"


@pytest.mark.parametrize("protocol", EXACT)
async def test_non_streaming_is_the_fold_of_the_same_events(protocol: str) -> None:
    body = {**STREAMING[protocol][1], "stream": False}
    engine = FakeEngine(events=text_events("Hel", "lo"))
    response = await post(engine, protocol, body)
    data = response.json()
    text = {
        "openai": lambda: data["choices"][0]["message"]["content"],
        "anthropic": lambda: data["content"][0]["text"],
        "ollama": lambda: data["message"]["content"],
    }[protocol]()
    assert (response.status_code, text) == (200, "Hello")
    assert engine.streams[0].closed
