"""Operations in-process, with a scripted engine: /metrics, request ids, access lines, readiness.

The same behaviours on the embedded model through a real `lazarus serve`: tests/contract/test_operations.py.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chuk_lazarus.core.errors import InvalidRequest, Overloaded
from chuk_lazarus.core.types import Finish, TextDelta, Timings, Usage
from chuk_lazarus.protocols import Protocol
from chuk_lazarus.server import attach_engine, create_app
from chuk_lazarus.serving.metrics import token_buckets
from chuk_lazarus.serving.request_context import error_kind, request_id_from
from chuk_lazarus.serving.tracking import format_fields
from tests.fakes import MODEL, FakeEngine, make_app

ALL = (Protocol.OPENAI, Protocol.OLLAMA, Protocol.ANTHROPIC)
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
TIMED = [
    TextDelta("a"), TextDelta("b"), TextDelta("c"),
    Finish("stop", Usage(7, 3, cached_prompt_tokens=4),
           timings=Timings(queued_ns=10**7, prompt_ns=2 * 10**7, generation_ns=3 * 10**7,
                           token_gaps_ns=(10**7, 2 * 10**7))),
]  # fmt: skip


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted({"model_name": MODEL, **labels}.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> dict[Any, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_count_exactly_what_was_served() -> None:
    engine = FakeEngine(events=TIMED)
    async with client_for(make_app(engine)) as client:
        before = await scrape(client)
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        assert (await client.post("/v1/chat/completions", json={**CHAT, "stream": True})).status_code == 200
        assert (await client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})).status_code == 404
        engine.start_error = Overloaded("the request queue is full")
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 503
        engine.start_error = InvalidRequest("bad", param="messages")
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 400
        after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("vllm:request_success_total", finished_reason="stop") == 2
    assert moved("vllm:prompt_tokens_total") == 14 and moved("vllm:generation_tokens_total") == 6
    assert moved("vllm:prefix_cache_queries_total") == 14 and moved("vllm:prefix_cache_hits_total") == 8
    assert moved("lazarus:requests_refused_total", protocol="openai") == 1
    assert moved("lazarus:request_errors_total", protocol="openai", type="invalid_request") == 1
    assert moved("lazarus:request_errors_total", protocol="openai", type="model_not_found") == 1
    assert moved("vllm:time_to_first_token_seconds_count") == 2
    assert moved("vllm:time_to_first_token_seconds_sum") == pytest.approx(0.06)
    assert moved("vllm:e2e_request_latency_seconds_sum") == pytest.approx(0.12)
    assert moved("vllm:inter_token_latency_seconds_count") == 4
    assert moved("vllm:inter_token_latency_seconds_sum") == pytest.approx(0.06)
    assert moved("vllm:request_queue_time_seconds_count") == 2
    assert moved("vllm:request_prefill_time_seconds_count") == 2
    assert moved("vllm:request_decode_time_seconds_count") == 2
    assert moved("vllm:request_prompt_tokens_sum") == 14
    assert moved("vllm:request_generation_tokens_count") == 2
    assert value(after, "vllm:num_requests_running") == 0 and value(after, "lazarus:slots") == 4


async def test_metrics_follow_the_api_key_unless_public() -> None:
    async with client_for(make_app(FakeEngine(), api_key="k")) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer k"})).status_code == 200
        assert (await client.get("/health")).status_code == 200 and (await client.get("/ready")).status_code == 200
    async with client_for(make_app(FakeEngine(), api_key="k", metrics_public=True)) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with client_for(make_app(FakeEngine(), metrics=False)) as client:
        assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat/completions", CHAT), ("/api/chat", {**CHAT, "stream": False}),
     ("/v1/messages", {**CHAT, "max_tokens": 8})],
)  # fmt: skip
async def test_request_id_round_trip_and_id_prefix(path: str, body: dict[str, Any]) -> None:
    async with client_for(make_app(FakeEngine(), protocols=ALL)) as client:
        response = await client.post(path, json=body, headers={"x-request-id": "trace-42"})
        assert response.status_code == 200 and response.headers["x-request-id"] == "trace-42"
        if path == "/v1/chat/completions":
            assert response.json()["id"] == "chatcmpl-trace-42"
        if path == "/v1/messages":
            assert response.json()["id"] == "msg_trace-42" and response.headers["request-id"] == "req_trace-42"
        failed = await client.post(path, json={**body, "model": "nope"}, headers={"x-request-id": "trace-43"})
        assert failed.status_code == 404 and failed.headers["x-request-id"] == "trace-43"
        if path == "/v1/messages":
            assert failed.json()["request_id"] == "req_trace-43"
        made = await client.post(path, json=body)
        assert request_id_from(made.headers["x-request-id"]) == made.headers["x-request-id"]
        assert made.headers["x-request-id"] != (await client.post(path, json=body)).headers["x-request-id"]


def test_unsafe_client_ids_are_replaced() -> None:
    assert request_id_from("abc-123_X.y") == "abc-123_X.y"
    for bad in ("has space", "quote\"", "x" * 129, "", "tab\t", "line\nbreak", "é"):
        replaced = request_id_from(bad)
        assert replaced != bad and request_id_from(replaced) == replaced


def test_text_access_fields_cannot_start_a_line() -> None:
    line = format_fields({"model": "evil\nINFO forged line", "status": 200, "route": "/v1/x y", "none": None})
    assert "\n" not in line and line.startswith('model="evil\\nINFO forged line" status=200 route="/v1/x y"')
    assert "none=" not in line


def test_error_kinds_are_snake_case_class_names() -> None:
    assert error_kind(InvalidRequest("x")) == "invalid_request"
    assert error_kind(Overloaded("x")) == "overloaded"
    assert error_kind(ValueError("x")) == "internal"


async def test_one_access_line_per_request_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chuk_lazarus.access")
    async with client_for(make_app(FakeEngine(events=TIMED))) as client:
        await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers={"x-request-id": "r1"})
        await client.get("/health")  # probes: debug level only
    lines = [r for r in caplog.records if r.name == "chuk_lazarus.access"]
    assert len(lines) == 1
    fields = lines[0].access  # type: ignore[attr-defined]
    assert fields["request_id"] == "r1" and fields["protocol"] == "openai" and fields["model"] == MODEL
    assert fields["route"] == "/v1/chat/completions" and fields["status"] == 200
    assert (fields["prompt_tokens"], fields["completion_tokens"], fields["cached_tokens"]) == (7, 3, 4)
    assert fields["ttft_ms"] == 30.0 and fields["finish_reason"] == "stop" and fields["total_ms"] >= 0


async def test_loading_then_ready() -> None:
    app = create_app(None, protocols=ALL)
    async with client_for(app) as client:
        for probe in ("/health", "/ready", "/metrics"):
            response = await client.get(probe)
            assert (response.status_code, response.json()) == (503, {"status": "loading"}), probe
        refused = await client.post("/v1/messages", json={**CHAT, "max_tokens": 8})
        assert refused.status_code == 529 and refused.json()["error"]["type"] == "overloaded_error"
        assert int(refused.headers["retry-after"]) >= 1
        attach_engine(app, FakeEngine())
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).json() == {"status": "ready", "model": MODEL}
        assert (await client.post("/v1/messages", json={**CHAT, "max_tokens": 8})).status_code == 200
        app.state.shutting_down = True
        assert (await client.get("/ready")).json() == {"status": "draining"}
        assert (await client.get("/metrics")).status_code == 200  # scrapers still see a draining replica


def test_token_buckets_are_vllms() -> None:
    assert token_buckets(2048) == (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
