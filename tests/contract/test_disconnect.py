"""A client that hangs up before a non-streaming answer frees its sequences on a real `lazarus serve`.

Each case sends a long non-streaming request over a raw socket, waits (through `/health`) until the
server is generating it, checks that no answer has arrived yet, and closes the socket. The server must
then cancel the generation: `/health` reports nothing active or queued, the log says the client left,
and a new request is served. Without the cancellation the slots stay busy until `max_tokens`, and the
log line never appears.

No timing assertions: every wait polls with a generous bounded deadline.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

MODEL = "smollm2-135m-instruct"
PARALLEL = 2
DEADLINE_S = 120.0
LONG = 3000  # tokens: minutes of decoding at one thread, so only a cancellation ends it in time
COUNT = [{"role": "user", "content": "Count from 1 to 100000, one number per line."}]
NO_EOS = {"2": -100}  # SmolLM2's <|im_end|>: OpenAI's logit_bias keeps the answer going


@pytest.fixture(scope="module")
def server() -> Iterator[LazarusProcess]:
    process = LazarusProcess(
        ["--protocols", "openai,anthropic,ollama", "--parallel", str(PARALLEL), "--threads", "1"]
    )
    yield process
    process.stop()


def load(server: LazarusProcess) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{server.base_url}/health", timeout=30).json()["load"]
    return stats


def wait_for(
    server: LazarusProcess, what: str, condition: Callable[[dict[str, int]], bool]
) -> dict[str, int]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        stats = load(server)
        if condition(stats):
            return stats
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: not within {DEADLINE_S}s; /health load: {stats}\n{server.output()}"
            )
        time.sleep(0.05)


def raw_post(server: LazarusProcess, path: str, body: dict[str, Any]) -> socket.socket:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(head.encode() + payload)
    return sock


def nothing_received(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return not sock.recv(1)  # b"": the server closed without answering
    except BlockingIOError:
        return True


CASES = {
    "openai": (
        "/v1/chat/completions",
        {"messages": COUNT, "max_tokens": LONG, "temperature": 0, "logit_bias": NO_EOS},
    ),
    "openai-n3": (
        "/v1/chat/completions",
        {"messages": COUNT, "max_tokens": LONG, "temperature": 0, "logit_bias": NO_EOS, "n": 3},
    ),
    "anthropic": ("/v1/messages", {"messages": COUNT, "max_tokens": LONG, "temperature": 0}),
    "ollama-chat": (
        "/api/chat",
        {"messages": COUNT, "stream": False, "options": {"num_predict": LONG, "temperature": 0}},
    ),
    "ollama-generate": (
        "/api/generate",
        {"prompt": COUNT[0]["content"], "stream": False, "options": {"num_predict": LONG, "temperature": 0}},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hanging_up_frees_the_sequences(server: LazarusProcess, case: str) -> None:
    path, body = CASES[case]
    choices = int(body.get("n", 1))
    assert load(server)["active"] == 0, "an earlier case left a sequence running"
    logged_before = server.output().count(f"POST {path}: the client disconnected")

    sock = raw_post(server, path, {"model": MODEL, **body})
    try:
        # Generating (n choices: as many as there are slots, the rest queued), and not answered yet.
        busy = min(choices, PARALLEL)
        wait_for(server, "generating", lambda s: s["active"] == busy and s["queued"] == choices - busy)
        assert nothing_received(sock), "the answer came before the client left; the test needs a longer one"
    finally:
        sock.close()

    wait_for(server, "sequences freed after the client left", lambda s: s["active"] == 0 and s["queued"] == 0)
    assert server.output().count(f"POST {path}: the client disconnected") == logged_before + 1
    # And the server keeps serving.
    reply = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        timeout=DEADLINE_S,
    )
    assert reply.status_code == 200, reply.text
