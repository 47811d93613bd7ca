"""The SPEC's own examples, run as written against real servers.

Only what cannot be the same here is substituted: the model (the embedded one is served *under* the
SPEC's name via --served-model-name; in the programmatic example, the embedded GGUF or its safetensors
folder, which `backend="auto"` sends to the transformers backend as it would the SPEC's Hub id), the host
(loopback) and the port (a free one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from tests.conftest import Serve
from tests.contract.server import LazarusProcess, free_port

pytestmark = pytest.mark.contract

SPEC_MODEL = "google/gemma-3-4b-it"

# From SPEC.md, "Programmatic Usage", verbatim except for the three substitutions below.
PROGRAMMATIC_EXAMPLE = textwrap.dedent(
    """
    import asyncio
    from chuk_lazarus.server import ModelEngine, Protocol, create_app
    import uvicorn

    async def main():
        engine = await ModelEngine.load("google/gemma-3-1b-it")
        app = create_app(
            engine,
            protocols=[Protocol.OPENAI],
            api_key="secret",
            default_max_tokens=1024,
        )
        config = uvicorn.Config(app, host="0.0.0.0", port=8080)
        server = uvicorn.Server(config)
        await server.serve()

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def spec_named_server(serve: Serve) -> LazarusProcess:
    # The examples send no max_tokens and sample at temperature 1; a bounded server default keeps a
    # rambling answer from taking minutes on the slower (transformers, CPU) backend.
    server = serve("--served-model-name", SPEC_MODEL, "--max-tokens", "64")
    yield server  # type: ignore[misc]
    server.stop()


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-sS", "--max-time", "240", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_programmatic_example_runs_as_written(backend: str, request: pytest.FixtureRequest) -> None:
    port = free_port()
    model = "None" if backend == "llama.cpp" else repr(str(request.getfixturevalue("smollm2_hf_folder")))
    source = (
        PROGRAMMATIC_EXAMPLE.replace('ModelEngine.load("google/gemma-3-1b-it")', f"ModelEngine.load({model})")
        .replace('host="0.0.0.0"', 'host="127.0.0.1"')
        .replace("port=8080", f"port={port}")
    )
    process = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "ok" and health["protocols"] == ["openai"]
        # api_key="secret" is enforced; default_max_tokens=1024 is the default for callers.
        assert httpx.get(f"{base}/v1/models").status_code == 401
        headers = {"Authorization": "Bearer secret"}
        model = httpx.get(f"{base}/v1/models", headers=headers).json()["data"][0]["id"]
        reply = httpx.post(
            f"{base}/v1/chat/completions",
            headers=headers,
            json={"model": model, "messages": [{"role": "user", "content": "Say hi."}], "temperature": 0},
            timeout=120,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["finish_reason"] in ("stop", "length")
    finally:
        process.terminate()
        process.wait(30)


def test_curl_non_streaming_example(spec_named_server: LazarusProcess) -> None:
    url = f"{spec_named_server.base_url}/v1/chat/completions"
    out = curl(url, "-H", "Content-Type: application/json", "-d", json.dumps({
        "model": SPEC_MODEL,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }))  # fmt: skip
    body = json.loads(out)
    assert body["object"] == "chat.completion"
    assert body["model"] == SPEC_MODEL
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_curl_streaming_example(spec_named_server: LazarusProcess) -> None:
    url = f"{spec_named_server.base_url}/v1/chat/completions"
    out = curl("-N", url, "-H", "Content-Type: application/json", "-d", json.dumps({
        "model": SPEC_MODEL,
        "messages": [{"role": "user", "content": "Count to ten."}],
        "stream": True,
        "max_tokens": 20,
    }))  # fmt: skip
    frames = [line[len("data: "):] for line in out.splitlines() if line.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert any(c["choices"][0]["delta"].get("content") for c in chunks[1:-1])
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_curl_models_and_health_examples(spec_named_server: LazarusProcess) -> None:
    health = json.loads(curl(f"{spec_named_server.base_url}/health"))
    assert {k: health[k] for k in ("status", "model", "protocols")} == {
        "status": "ok", "model": SPEC_MODEL, "protocols": ["openai"],
    }  # fmt: skip
    models = json.loads(curl(f"{spec_named_server.base_url}/v1/models"))
    assert models["object"] == "list"
    assert models["data"][0] == {**models["data"][0], "id": SPEC_MODEL, "object": "model", "owned_by": "lazarus"}
