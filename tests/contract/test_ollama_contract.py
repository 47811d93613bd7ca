"""The official `ollama` Python client against a real `lazarus serve --protocols ollama` (embedded model).

The model is tiny: these tests assert protocol behaviour, validity and constraints, not wisdom. Sampling
is greedy and generations short, because the whole suite shares two CPU cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jsonschema
import ollama
import openai
import pytest

from tests.conftest import Serve
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

KEY = "ollama-contract-key"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def opts(num_predict: int, **more: object) -> dict[str, object]:
    """Greedy and short; every other option keeps Ollama's default (repeat_penalty 1.1, top_k 40, …)."""
    return {"temperature": 0, "num_predict": num_predict, **more}


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--protocols", "ollama", "--parallel", "2")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> ollama.Client:
    return ollama.Client(host=server.base_url, timeout=300)


@pytest.fixture(scope="module")
def model(client: ollama.Client) -> str:
    name = client.list().models[0].model
    assert name
    return name


# ---- discovery ------------------------------------------------------------------------------------


def test_discovery_as_tools_probe_it(
    server: LazarusProcess, client: ollama.Client, embedded_model_name: str, backend: str
) -> None:
    root = httpx.get(f"{server.base_url}/")
    assert root.status_code == 200 and root.text == "Ollama is running"
    assert httpx.head(f"{server.base_url}/").status_code == 200
    assert httpx.get(f"{server.base_url}/api/version").json()["version"]

    listed = client.list().models
    assert [m.model for m in listed] == [f"{embedded_model_name}:latest"]
    assert listed[0].size and listed[0].size > 50_000_000
    file_format = "gguf" if backend == "llama.cpp" else "safetensors"
    details = listed[0].details
    assert details and details.format == file_format and details.family == "llama"

    shown = client.show(embedded_model_name)
    assert shown.capabilities and "completion" in shown.capabilities and "tools" in shown.capabilities
    assert shown.modelinfo and shown.modelinfo["llama.context_length"] >= 2048
    assert shown.template and "im_start" in shown.template
    assert shown.details and shown.details.parameter_size

    running = client.ps().models
    assert running[0].model == f"{embedded_model_name}:latest" and running[0].context_length


# ---- chat and generate ----------------------------------------------------------------------------


def test_chat_not_streaming(client: ollama.Client, model: str) -> None:
    response = client.chat(model, messages=QUESTION, options=opts(12))
    assert response.message.role == "assistant" and response.message.content
    assert "Paris" in response.message.content
    assert response.done and response.done_reason in ("stop", "length")
    assert response.eval_count and 0 < response.eval_count <= 12
    assert response.prompt_eval_count and response.prompt_eval_count > 5
    assert response.total_duration and response.eval_duration and response.prompt_eval_duration
    assert response.total_duration >= response.eval_duration


def test_chat_streaming(client: ollama.Client, model: str) -> None:
    parts = list(client.chat(model, messages=QUESTION, options=opts(12), stream=True))
    assert len(parts) > 2 and all(not p.done for p in parts[:-1])
    final = parts[-1]
    assert final.done and final.done_reason in ("stop", "length") and final.eval_count
    text = "".join(p.message.content or "" for p in parts)
    assert "Paris" in text


def test_generate_streaming_and_not(client: ollama.Client, model: str) -> None:
    whole = client.generate(model, "What is the capital of France?", options=opts(12))
    assert whole.response and whole.done
    parts = list(client.generate(model, "What is the capital of France?", options=opts(12), stream=True))
    assert parts[-1].done and parts[-1].done_reason
    assert "".join(p.response or "" for p in parts)


def test_num_predict_is_honoured(client: ollama.Client, model: str) -> None:
    response = client.generate(model, "Write a long story about a dragon.", options=opts(3))
    assert response.eval_count == 3 and response.done_reason == "length"


def test_stop_is_honoured(client: ollama.Client, model: str) -> None:
    response = client.generate(model, "1, 2, 3, 4, 5,", raw=True, options=opts(12, stop=[","]))
    assert response.response and "," not in response.response
    assert response.done_reason == "stop"


def test_default_options_work(client: ollama.Client, model: str) -> None:
    # Ollama's defaults (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1), only the length bounded.
    response = client.chat(model, messages=QUESTION, options={"num_predict": 4, "seed": 7})
    assert response.done and response.eval_count


def test_format_json_schema_output_validates(client: ollama.Client, model: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population_millions": {"type": "integer"}},
        "required": ["city", "population_millions"],
    }
    messages = [{"role": "user", "content": "Paris has 2 million people. Reply in JSON with city and population."}]
    response = client.chat(model, messages=messages, format=schema, options=opts(60))
    data = json.loads(response.message.content or "")
    jsonschema.validate(data, schema)


def test_format_json_gives_an_object(client: ollama.Client, model: str) -> None:
    response = client.generate(model, "Describe Paris as JSON.", format="json", options=opts(40))
    assert isinstance(json.loads(response.response or ""), dict)


# ---- tools ----------------------------------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
      a: the first integer
      b: the second integer
    """
    return a + b


def test_tool_call_and_result_round_trip(client: ollama.Client, model: str) -> None:
    messages: list[object] = [{"role": "user", "content": "Add 2 and 3."}]
    response = client.chat(model, messages=messages, tools=[add], options=opts(40))
    calls = response.message.tool_calls
    assert calls, f"expected a tool call, got {response.message.content!r}"
    call = calls[0]
    assert call.function.name == "add"
    assert isinstance(call.function.arguments, dict)
    result = add(**call.function.arguments)

    messages.append(response.message)
    messages.append({"role": "tool", "content": str(result), "tool_name": "add"})
    final = client.chat(model, messages=messages, tools=[add], options=opts(24))
    assert final.done and (final.message.content or final.message.tool_calls)


# ---- bad input ------------------------------------------------------------------------------------


def test_bad_inputs_get_ollama_errors_and_the_server_keeps_serving(
    server: LazarusProcess, client: ollama.Client, model: str, backend: str
) -> None:
    url = server.base_url
    r = httpx.post(f"{url}/api/chat", content=b'{"model": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = httpx.post(f"{url}/api/chat", json={"messages": QUESTION})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}
    r = httpx.post(f"{url}/api/generate", json={"model": "../../etc/passwd", "prompt": "x"})
    assert r.status_code == 400 and r.json() == {"error": "invalid model name"}

    with pytest.raises(ollama.ResponseError) as info:
        client.chat("llama3.2", messages=QUESTION)
    assert info.value.status_code == 404 and info.value.error == "model 'llama3.2' not found"
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model, messages=[{"role": "user", "content": "what is this?", "images": [b"\x89PNG fake"]}])
    assert info.value.status_code == 400 and "image" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model, "hello " * 5000, truncate=False)  # longer than the context
    # The vllm backend serves no embeddings at all: the same 400, saying so.
    expected = "does not support embeddings" if backend == "vllm" else "context"
    assert info.value.status_code == 400 and expected in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.pull("llama3.2")
    assert info.value.status_code == 400
    with pytest.raises(ollama.ResponseError):
        client.generate(model, "x", options={"temperature": "hot"})

    assert client.generate(model, "Hi", options=opts(2)).done  # still serving


# ---- both protocols, with a key ---------------------------------------------------------------------


def test_openai_and_ollama_from_one_process_with_auth(serve: Serve, embedded_model_name: str) -> None:
    process = serve("--protocols", "openai,ollama", "--api-key", KEY, "--parallel", "2")
    try:
        o = ollama.Client(host=process.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
        oa = openai.OpenAI(base_url=f"{process.base_url}/v1", api_key=KEY, max_retries=0, timeout=300)
        assert o.list().models[0].model == f"{embedded_model_name}:latest"
        assert oa.models.list().data[0].id == embedded_model_name
        chat = o.chat(embedded_model_name, messages=QUESTION, options=opts(6))
        completion = oa.chat.completions.create(
            model=embedded_model_name, messages=QUESTION, max_tokens=6, temperature=0  # type: ignore[arg-type]
        )
        assert chat.message.content and completion.choices[0].message.content
        with pytest.raises(ollama.ResponseError) as info:
            ollama.Client(host=process.base_url).list()
        assert info.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{process.base_url}/v1", api_key="wrong", max_retries=0).models.list()
    finally:
        process.stop()
