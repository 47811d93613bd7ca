"""Operations on a real `lazarus serve` and the embedded model: /metrics moves by exactly what was
served, `x-request-id` round trips through the official SDKs, `--log-format json` gives one access line
per request, and the port answers 503 `loading` while the model loads."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Serve
from tests.contract.server import LazarusProcess, free_port

pytestmark = pytest.mark.contract

MODEL = "smollm2-135m-instruct"
# SmolLM2's <|endoftext|> and <|im_end|>: biased away so a request runs its whole max_tokens.
NO_END = {"0": -100, "2": -100}


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "temperature": 0, **extra}


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{base_url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    out = {}
    for family in text_string_to_metric_families(response.text):  # the text parses, or this raises
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture(scope="module")
def one_slot_server(serve: Serve) -> Iterator[LazarusProcess]:
    """One sequence at a time and one waiting: a third request at once is refused."""
    server = serve("--parallel", "1", "--max-queue", "1")
    yield server
    server.stop()


def test_metrics_move_by_exactly_what_was_served(one_slot_server: LazarusProcess) -> None:
    base = one_slot_server.base_url
    before = scrape(base)
    usages: list[dict[str, Any]] = []
    reasons: list[str] = []
    first_token = threading.Event()
    errors: list[BaseException] = []

    def stream() -> None:  # runs 48 tokens, so the slot is busy while the others arrive
        body = chat("Count to a thousand.", max_tokens=48, logit_bias=NO_END, stream=True,
                    stream_options={"include_usage": True})  # fmt: skip
        try:
            with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=300) as r:
                for line in r.iter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if chunk.get("usage"):
                        usages.append(chunk["usage"])
                    for choice in chunk["choices"]:
                        if choice["delta"].get("content"):
                            first_token.set()
                        if choice.get("finish_reason"):
                            reasons.append(choice["finish_reason"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_token.set()

    def queued_chat() -> None:
        try:
            response = httpx.post(f"{base}/v1/chat/completions", json=chat("Zebrafish hi.", max_tokens=8), timeout=300)
            usages.append(response.json()["usage"])
            reasons.append(response.json()["choices"][0]["finish_reason"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    streaming = threading.Thread(target=stream)
    streaming.start()
    assert first_token.wait(120) and not errors
    waiting = threading.Thread(target=queued_chat)
    waiting.start()
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/health").json()["load"]["queued"] < 1:
        assert time.monotonic() < deadline, "the second chat never queued"
        time.sleep(0.01)
    refused = httpx.post(f"{base}/v1/chat/completions", json=chat("Hello?", max_tokens=8), timeout=60)
    assert refused.status_code == 503, refused.text
    streaming.join(300)
    waiting.join(300)
    assert not errors, errors
    last = httpx.post(f"{base}/v1/chat/completions", json=chat("Bye.", max_tokens=8), timeout=300)
    usages.append(last.json()["usage"])
    reasons.append(last.json()["choices"][0]["finish_reason"])
    bad = httpx.post(f"{base}/v1/chat/completions", json=chat("x", temperature=9), timeout=60)
    assert bad.status_code == 400
    after = scrape(base)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted({"model_name": MODEL, **labels}.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert len(usages) == 3 and reasons[0] == "length"
    prompt = sum(u["prompt_tokens"] for u in usages)
    generated = sum(u["completion_tokens"] for u in usages)
    cached = sum(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) for u in usages)
    for reason in ("stop", "length"):
        assert moved("vllm:request_success_total", finished_reason=reason) == reasons.count(reason)
    assert moved("vllm:prompt_tokens_total") == prompt
    assert moved("vllm:generation_tokens_total") == generated
    assert moved("vllm:prefix_cache_queries_total") == prompt
    assert moved("vllm:prefix_cache_hits_total") == cached
    assert moved("lazarus:requests_refused_total", protocol="openai") == 1
    assert moved("lazarus:request_errors_total", protocol="openai", type="invalid_request") == 1
    for histogram in ("time_to_first_token_seconds", "e2e_request_latency_seconds", "request_queue_time_seconds",
                      "request_prefill_time_seconds", "request_decode_time_seconds", "request_prompt_tokens",
                      "request_generation_tokens"):  # fmt: skip
        assert moved(f"vllm:{histogram}_count") == 3, histogram
    assert moved("vllm:request_prompt_tokens_sum") == prompt
    assert moved("vllm:inter_token_latency_seconds_count") == sum(u["completion_tokens"] - 1 for u in usages)
    assert moved("vllm:time_to_first_token_seconds_sum") > 0
    gauges = {name: value for (name, _), value in after.items() if name.startswith(("vllm:num_", "vllm:kv", "lazarus:slots"))}
    assert gauges == {"vllm:num_requests_running": 0, "vllm:num_requests_waiting": 0,
                      "vllm:kv_cache_usage_perc": 0, "lazarus:slots": 1}  # fmt: skip


@pytest.fixture(scope="module")
def three_protocol_server(serve: Serve) -> Iterator[LazarusProcess]:
    server = serve("--protocols", "openai,ollama,anthropic", "--parallel", "2", "--log-format", "json")
    yield server
    server.stop()


def test_request_id_round_trip_through_the_sdks(three_protocol_server: LazarusProcess) -> None:
    base = three_protocol_server.base_url
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused")
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Zebrafish hi"}], max_tokens=4,
        extra_headers={"x-request-id": "ops-openai-1"},
    )  # fmt: skip
    assert raw.headers["x-request-id"] == "ops-openai-1" and raw.parse().id == "chatcmpl-ops-openai-1"
    with pytest.raises(openai.BadRequestError) as failed:
        client.chat.completions.create(model=MODEL, messages=[], extra_headers={"x-request-id": "ops-openai-2"})
    assert failed.value.request_id == "ops-openai-2"

    claude = anthropic.Anthropic(base_url=base, api_key="unused")
    message = claude.messages.create(
        model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "Zebrafish hi"}],
        extra_headers={"x-request-id": "ops-anthropic-1"},
    )  # fmt: skip
    assert message.id == "msg_ops-anthropic-1" and message._request_id == "req_ops-anthropic-1"
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(model=MODEL, max_tokens=4, messages=[], extra_headers={"x-request-id": "ops-anthropic-2"})
    assert refused.value.request_id == "req_ops-anthropic-2"
    assert refused.value.response.headers["x-request-id"] == "ops-anthropic-2"

    ollama_ok = httpx.post(f"{base}/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "Zebrafish hi"}],
                                 "stream": False, "options": {"num_predict": 4}},
                           headers={"x-request-id": "ops-ollama-1"}, timeout=120)  # fmt: skip
    assert ollama_ok.status_code == 200 and ollama_ok.headers["x-request-id"] == "ops-ollama-1"
    ollama_bad = httpx.post(f"{base}/api/chat", json={"model": "missing", "messages": []},
                            headers={"x-request-id": "ops-ollama-2"}, timeout=60)  # fmt: skip
    assert ollama_bad.status_code == 404 and ollama_bad.headers["x-request-id"] == "ops-ollama-2"

    # No id, or one that could forge a log line: the server makes one.
    made = httpx.post(f"{base}/v1/chat/completions", json=chat("Zebrafish hi", max_tokens=2), timeout=120)
    assert made.json()["id"] == f"chatcmpl-{made.headers['x-request-id']}"
    odd = httpx.post(f"{base}/v1/chat/completions", json=chat("Zebrafish hi", max_tokens=2),
                     headers={"x-request-id": "two words"}, timeout=120)  # fmt: skip
    assert odd.headers["x-request-id"] not in ("two words", "") and " " not in odd.headers["x-request-id"]


ACCESS_FIELDS = {"request_id", "protocol", "method", "route", "model", "status", "prompt_tokens",
                 "completion_tokens", "cached_tokens", "ttft_ms", "total_ms", "finish_reason", "error"}  # fmt: skip


def test_json_logs_give_one_access_line_per_request(three_protocol_server: LazarusProcess) -> None:
    base = three_protocol_server.base_url
    sent = {
        "ops-log-chat": ("/v1/chat/completions", chat("Zebrafish hi", max_tokens=3), 200),
        "ops-log-stream": ("/v1/messages", {**chat("Zebrafish hi"), "max_tokens": 3, "stream": True}, 200),
        "ops-log-bad": ("/v1/chat/completions", chat("Zebrafish hi", temperature=9), 400),
        # Not a valid Ollama model name (400, as Ollama answers); its newline must not start a log line.
        "ops-log-evil": ("/api/chat", {"model": "x\nINFO forged", "messages": [], "stream": False}, 400),
    }
    for request_id, (path, body, status) in sent.items():
        response = httpx.post(f"{base}{path}", json=body, headers={"x-request-id": request_id}, timeout=120)
        assert response.status_code == status, response.text
    time.sleep(0.5)  # the access line is written once the response is over
    lines = [line for line in three_protocol_server.output().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]  # every log line parses
    access = [r for r in records if r["logger"] == "chuk_lazarus.access"]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for record in access:
        by_id.setdefault(record["request_id"], []).append(record)
    for request_id, (path, _, status) in sent.items():
        (line,) = by_id[request_id]
        assert ACCESS_FIELDS <= line.keys() and line["route"] == path and line["status"] == status
    chat_line = by_id["ops-log-chat"][0]
    assert chat_line["protocol"] == "openai" and chat_line["model"] == MODEL and chat_line["finish_reason"]
    assert chat_line["prompt_tokens"] > 0 and chat_line["completion_tokens"] > 0 and chat_line["ttft_ms"] > 0
    assert by_id["ops-log-stream"][0]["protocol"] == "anthropic"
    assert by_id["ops-log-bad"][0]["error"] == "invalid_request"
    assert by_id["ops-log-evil"][0]["model"] == "x\nINFO forged"  # kept, but inside one JSON string
    assert not any(line.startswith("INFO forged") for line in three_protocol_server.output().splitlines())
    assert "Zebrafish" not in "".join(lines)  # never the prompt (the word is in every request above)


SLOW_LOAD = """
import asyncio, sys
from chuk_lazarus.engine import ModelEngine
load = ModelEngine.load.__func__
async def slow(cls, *args, **kwargs):
    await asyncio.sleep(float(sys.argv[1]))
    return await load(cls, *args, **kwargs)
ModelEngine.load = classmethod(slow)
from chuk_lazarus.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_health_answers_loading_until_the_model_is_in(backend_args: list[str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", SLOW_LOAD, "6", "serve", "--port", str(port), *backend_args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline and process.poll() is None
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert (health.status_code, health.json()) == (503, {"status": "loading"})
        assert httpx.get(f"{base}/ready").status_code == 503
        early = httpx.post(f"{base}/v1/chat/completions", json=chat("Zebrafish hi", max_tokens=2))
        assert early.status_code == 503 and int(early.headers["retry-after"]) >= 1
        assert early.json()["error"]["type"]  # the protocol's own error shape
        while httpx.get(f"{base}/health").status_code != 200:
            assert time.monotonic() < deadline + 120 and process.poll() is None
            time.sleep(0.1)
        assert httpx.get(f"{base}/ready").json()["status"] == "ready"
        assert httpx.post(f"{base}/v1/chat/completions", json=chat("Zebrafish hi", max_tokens=2), timeout=120).status_code == 200
    finally:
        process.terminate()
        process.wait(60)
