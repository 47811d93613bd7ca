"""SIGTERM on a real `lazarus serve`: new requests are refused with 503 + Retry-After, the stream in
flight completes with a finish reason, and the process exits 0."""

from __future__ import annotations

import json
import signal
import threading

import httpx
import pytest

from tests.conftest import Serve

pytestmark = pytest.mark.contract


def test_sigterm_finishes_the_stream_in_flight_then_exits_zero(serve: Serve) -> None:
    server = serve("--parallel", "2", "--threads", "1")
    try:
        started = threading.Event()
        frames: list[dict] = []  # type: ignore[type-arg]
        failure: list[BaseException] = []

        def stream() -> None:
            body = {
                "model": "smollm2-135m-instruct",
                "messages": [{"role": "user", "content": "Count from 1 to 1000, one number per line."}],
                "max_tokens": 64,
                "temperature": 0,
                "stream": True,
            }
            try:
                with httpx.stream(
                    "POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=120
                ) as r:
                    for line in r.iter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            frames.append(json.loads(line[6:]))
                            started.set()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failure.append(exc)
                started.set()

        worker = threading.Thread(target=stream)
        worker.start()
        assert started.wait(60)
        server.process.send_signal(signal.SIGTERM)

        # While it drains, the server answers — with a retryable refusal.
        refused = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            json={"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) >= 1
        assert httpx.get(f"{server.base_url}/health", timeout=10).status_code == 503
        # A balancer reading /ready stops sending from the first moment of the drain.
        ready = httpx.get(f"{server.base_url}/ready", timeout=10)
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})

        worker.join(120)
        assert not failure, failure
        finish = [c["finish_reason"] for f in frames for c in f.get("choices", []) if c.get("finish_reason")]
        assert finish in (["stop"], ["length"]), frames[-3:]
        assert server.process.wait(timeout=60) == 0, server.output()
    finally:
        server.stop()
