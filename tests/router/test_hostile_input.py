"""Hostile input in-process, on every protocol: exact status and error shape, then a normal request.

The scripted engine stands in for the model, so these check the HTTP side (body parsing, Host, CORS,
the last-resort 500, the body deadline); what needs the model (max_tokens against the context,
token ids against the vocabulary, control tokens) is tested in tests/contract/test_hostile_input.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from chuk_lazarus.serving.body import MAX_JSON_DEPTH, json_depth, parse_json
from tests.fakes import MODEL, FakeEngine, make_app

PROTOCOLS = ("openai", "ollama", "anthropic")
ROUTES = {
    "openai": ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
    "ollama": ("/api/chat", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False}),
    "anthropic": ("/v1/messages", {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
}


def assert_error(protocol: str, response: httpx.Response, status: int) -> str:
    """The protocol's own error body with `status`; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    if protocol == "openai":
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        return str(body["error"]["message"])
    if protocol == "ollama":
        assert set(body) == {"error"} and isinstance(body["error"], str)
        return body["error"]
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    assert body["request_id"] and response.headers["request-id"] == body["request_id"]
    return str(body["error"]["message"])


def client(engine: FakeEngine, **app_kwargs: Any) -> httpx.AsyncClient:
    app = make_app(engine, protocols=PROTOCOLS, **app_kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080")


async def post_raw(c: httpx.AsyncClient, protocol: str, content: bytes) -> httpx.Response:
    path, _ = ROUTES[protocol]
    return await c.post(path, content=content, headers={"content-type": "application/json"})


async def assert_still_serves(c: httpx.AsyncClient, protocol: str) -> None:
    path, body = ROUTES[protocol]
    response = await c.post(path, json=body)
    assert response.status_code == 200, response.text


def nested(kind: str, depth: int) -> bytes:
    if kind == "arrays":
        return b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    return b'{"messages": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


# ---- the body rules on their own ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,depth",
    [(b"{}", 1), (b"[[], [[]]]", 3), (b'{"a": "[[[[{{{{"}', 1), (b'{"a": "\\\\", "b": [[1]]}', 3),
     (b'{"a": "\\"[[[", "b": []}', 2), (b'"x"', 0), (b"[" * 70 + b"]" * 70, 70)],
)  # fmt: skip
def test_depth_is_measured_outside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_parse_json_accepts_pairs_and_refuses_lone_halves() -> None:
    assert parse_json(b'{"e": "\\ud83d\\ude00"}') == {"e": "\U0001f600"}
    assert parse_json(b'{"e": "\\\\ud800"}') == {"e": "\\ud800"}  # an escaped backslash, not an escape
    for bad in (b'{"e": "\\ud800"}', b'{"e": "\\udc00x"}', b'{"\\ud800": 1}', b'{"e": "\\ude00\\ud83d"}'):
        with pytest.raises(Exception, match="lone surrogate"):
            parse_json(bad)


@pytest.mark.parametrize(
    "bad", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e999}', b'{"a": ' + b"9" * 5000 + b"}", b"\xff{}",
            b'{"a": "\xed\xa0\x80"}', b"\xef\xbb\xbf{}"],
)  # fmt: skip
def test_parse_json_refuses_what_is_not_json_text(bad: bytes) -> None:
    from chuk_lazarus.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        parse_json(bad)


# ---- every protocol -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", ["arrays", "objects"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 5000])
async def test_deep_nesting_is_a_400(protocol: str, kind: str, depth: int) -> None:
    async with client(FakeEngine()) as c:
        message = assert_error(protocol, await post_raw(c, protocol, nested(kind, depth)), 400)
        assert f"at most {MAX_JSON_DEPTH} levels" in message
        await assert_still_serves(c, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_depth_at_the_limit_is_parsed(protocol: str) -> None:
    async with client(FakeEngine()) as c:
        # 63 levels inside the top-level object: parsed, then refused by the schema (not by depth)
        message = assert_error(protocol, await post_raw(c, protocol, nested("arrays", MAX_JSON_DEPTH - 1)), 400)
        assert "levels" not in message


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "content", [b"\\ud800", b"a\\udfffb", b"\\ud83d"], ids=["high", "low", "unpaired-emoji-half"]
)
async def test_lone_surrogate_is_a_400(protocol: str, content: bytes) -> None:
    _, body = ROUTES[protocol]
    raw = json.dumps(body).encode().replace(b'"hi"', b'"' + content + b'"')
    async with client(FakeEngine()) as c:
        message = assert_error(protocol, await post_raw(c, protocol, raw), 400)
        assert "surrogate" in message
        await assert_still_serves(c, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("raw", [b'{"model": "x", "a": NaN}', b'{"model": 1e999}', b"\xff\xfe{}"])
async def test_numbers_and_bytes_that_are_not_json_are_a_400(protocol: str, raw: bytes) -> None:
    async with client(FakeEngine()) as c:
        assert_error(protocol, await post_raw(c, protocol, raw), 400)
        await assert_still_serves(c, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_surrogate_pair_is_text(protocol: str) -> None:
    engine = FakeEngine()
    _, body = ROUTES[protocol]
    raw = json.dumps(body).encode().replace(b'"hi"', b'"\\ud83d\\ude00"')
    async with client(engine) as c:
        assert (await post_raw(c, protocol, raw)).status_code == 200
    assert engine.requests[0].messages[-1].content == "\U0001f600"


# ---- Host and CORS ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example"])
async def test_foreign_host_is_a_403_when_bound_to_loopback(protocol: str, host: str) -> None:
    path, body = ROUTES[protocol]
    async with client(FakeEngine(), allowed_hosts=()) as c:
        message = assert_error(protocol, await c.post(path, json=body, headers={"host": host}), 403)
        assert "Host" in message
        await assert_still_serves(c, protocol)


async def test_health_checks_the_host_too() -> None:
    async with client(FakeEngine(), allowed_hosts=()) as c:
        assert (await c.get("/health", headers={"host": "attacker.example"})).status_code == 403
        assert (await c.get("/health")).status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:1234", "127.0.0.1", "127.0.0.2:80", "[::1]:8080", "[::1]", "app.localhost",
             "LOCALHOST.", "models.lan:8080"],
)  # fmt: skip
async def test_loopback_and_allowed_hosts_are_answered(host: str) -> None:
    path, body = ROUTES["openai"]
    async with client(FakeEngine(), allowed_hosts=["models.lan"]) as c:
        assert (await c.post(path, json=body, headers={"host": host})).status_code == 200


async def test_no_host_check_without_allowed_hosts_and_star_allows_any() -> None:
    path, body = ROUTES["openai"]
    for kwargs in ({}, {"allowed_hosts": ["*"]}):
        async with client(FakeEngine(), **kwargs) as c:
            assert (await c.post(path, json=body, headers={"host": "anything.example"})).status_code == 200


async def test_cors_is_off_by_default_and_on_for_listed_origins() -> None:
    path, body = ROUTES["openai"]
    preflight = {"origin": "http://app.example", "access-control-request-method": "POST"}
    async with client(FakeEngine()) as c:
        response = await c.post(path, json=body, headers={"origin": "http://app.example"})
        assert "access-control-allow-origin" not in response.headers
    async with client(FakeEngine(), cors_origins=["http://app.example"]) as c:
        response = await c.post(path, json=body, headers={"origin": "http://app.example"})
        assert response.headers["access-control-allow-origin"] == "http://app.example"
        assert (await c.options(path, headers=preflight)).status_code == 200
        other = await c.options(path, headers={**preflight, "origin": "http://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


# ---- a bug of ours, and a slow client -----------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_unexpected_exception_is_the_protocols_500(protocol: str) -> None:
    engine = FakeEngine(start_error=ZeroDivisionError("internal detail"))
    async with client(engine) as c:
        path, body = ROUTES[protocol]
        response = await c.post(path, json=body)
        message = assert_error(protocol, response, 500)
        assert "internal detail" not in message


async def _slow_post(app: Any, path: str, chunks: list[bytes], pause: float) -> tuple[int, dict[str, Any]]:
    """A request whose body arrives in `chunks`, `pause` seconds apart, through the ASGI interface."""
    sent: list[dict[str, Any]] = []
    queue = list(chunks)

    async def receive() -> dict[str, Any]:
        if not queue:
            await asyncio.sleep(3600)
        await asyncio.sleep(pause)
        chunk = queue.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    total = sum(len(c) for c in chunks)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                    (b"content-length", str(total).encode())],
    }  # fmt: skip
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_body_slower_than_the_deadline_is_a_408(protocol: str) -> None:
    path, body = ROUTES[protocol]
    raw = json.dumps(body).encode()
    app = make_app(FakeEngine(), protocols=PROTOCOLS, body_timeout_s=0.3)
    status, payload = await _slow_post(app, path, [raw[:5], raw[5:10], raw[10:]], pause=0.2)
    assert status == 408, payload
    ok_status, _ = await _slow_post(app, path, [raw], pause=0.0)
    assert ok_status == 200
