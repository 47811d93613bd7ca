"""`POST /v1/embeddings`, `/api/embed` and `/api/embeddings` in-process, on the scripted engine: shapes,
the wire -> `EmbeddingRequest` conversion, and each protocol's 400s (never a 404 or a 5xx)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import ollama
import openai
import pytest
from openai.types import CreateEmbeddingResponse

from chuk_lazarus.core.errors import Overloaded
from chuk_lazarus.core.types import ModelInfo
from tests.fakes import MODEL, FakeEngine, fake_vector, make_app

BASE = "http://lazarus.test"


def http(engine: FakeEngine, protocols: tuple[str, ...] = ("openai", "ollama")) -> httpx.AsyncClient:
    app = make_app(engine, protocols)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE)


async def post(engine: FakeEngine, path: str, body: Any) -> httpx.Response:
    async with http(engine) as client:
        return await client.post(path, json=body)


# ---- OpenAI ---------------------------------------------------------------------------------------


async def test_openai_shapes_match_the_sdk_types() -> None:
    engine = FakeEngine()
    r = await post(engine, "/v1/embeddings", {"model": MODEL, "input": ["hello", "world"], "user": "u1"})
    assert r.status_code == 200
    parsed = CreateEmbeddingResponse.model_validate(r.json())
    assert parsed.object == "list" and parsed.model == MODEL
    assert [d.index for d in parsed.data] == [0, 1] and all(d.object == "embedding" for d in parsed.data)
    assert parsed.data[0].embedding == fake_vector([ord(c) for c in "hello"], 8)
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens == 10


@pytest.mark.parametrize(
    ("wire", "inputs"),
    [
        ("hi", ("hi",)),
        (["a", "bc"], ("a", "bc")),
        ([1, 2, 3], ((1, 2, 3),)),
        ([[1, 2], [3]], ((1, 2), (3,))),
    ],
)
async def test_every_input_form_converts(wire: Any, inputs: tuple[Any, ...]) -> None:
    engine = FakeEngine()
    r = await post(engine, "/v1/embeddings", {"model": MODEL, "input": wire})
    assert r.status_code == 200 and len(r.json()["data"]) == len(inputs)
    assert engine.embed_requests[0].inputs == inputs and engine.embed_requests[0].truncate is False


async def test_base64_is_little_endian_float32_and_the_sdk_decodes_it() -> None:
    engine = FakeEngine()
    r = await post(engine, "/v1/embeddings", {"model": MODEL, "input": "hello", "encoding_format": "base64"})
    raw = np.frombuffer(base64.b64decode(r.json()["data"][0]["embedding"]), dtype="<f4")
    assert raw.tolist() == fake_vector([ord(c) for c in "hello"], 8)
    # The SDK asks for base64 by default and decodes it itself.
    app = make_app(engine, ("openai",))
    client = openai.AsyncOpenAI(
        base_url=f"{BASE}/v1", api_key="x", http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    )
    result = await client.embeddings.create(model=MODEL, input="hello")
    assert result.data[0].embedding == raw.tolist()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": ""}, "input[0]"),
        ({"input": []}, "input"),
        ({"input": ["ok", ""]}, "input[1]"),
        ({"input": [[]]}, "input[0]"),
        ({"input": ["a", 1]}, "input"),
        ({"input": {"text": "x"}}, "input"),
        ({"input": "x", "dimensions": 4}, "dimensions"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x" * 3000}, "input[0]"),  # longer than the fake's 2048-token context
        ({}, "model"),
    ],
)
async def test_openai_bad_input_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    r = await post(FakeEngine(), "/v1/embeddings", {"model": MODEL, **body} if body else {"input": "x"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error


async def test_openai_dimensions_equal_to_the_model_size_is_fine_and_unknown_model_is_404() -> None:
    r = await post(FakeEngine(), "/v1/embeddings", {"model": MODEL, "input": "x", "dimensions": 8})
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 8
    r = await post(FakeEngine(), "/v1/embeddings", {"model": "other", "input": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


async def test_a_model_that_cannot_embed_and_a_full_queue() -> None:
    engine = FakeEngine(info=ModelInfo(name=MODEL, path="/m", backend="fake", context_length=64))
    r = await post(engine, "/v1/embeddings", {"model": MODEL, "input": "x"})
    assert r.status_code == 400 and "does not support embeddings" in r.json()["error"]["message"]
    r = await post(FakeEngine(start_error=Overloaded("full")), "/v1/embeddings", {"model": MODEL, "input": "x"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


# ---- Ollama ---------------------------------------------------------------------------------------


def ollama_client(engine: FakeEngine) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=BASE, transport=httpx.ASGITransport(app=make_app(engine, ("ollama",))))


async def test_ollama_embed_shapes_and_conversion() -> None:
    engine = FakeEngine()
    result = await ollama_client(engine).embed(MODEL, ["hello", "world"], dimensions=8, keep_alive="5m")
    assert result.model == MODEL and len(result.embeddings) == 2
    assert list(result.embeddings[0]) == fake_vector([ord(c) for c in "hello"], 8)
    assert result.prompt_eval_count == 10 and (result.total_duration or 0) > 0
    assert result.load_duration is not None
    request = engine.embed_requests[0]
    assert request.inputs == ("hello", "world") and request.truncate is True and request.dimensions == 8
    one = await ollama_client(engine).embed(f"{MODEL}:latest", "hello", truncate=False)
    assert len(one.embeddings) == 1 and engine.embed_requests[1].truncate is False


async def test_ollama_truncate_decides_what_a_long_input_gets() -> None:
    engine = FakeEngine()
    long = "x" * 3000
    ok = await ollama_client(engine).embed(MODEL, long)
    assert ok.prompt_eval_count == 2048
    with pytest.raises(ollama.ResponseError) as info:
        await ollama_client(engine).embed(MODEL, long, truncate=False)
    assert info.value.status_code == 400 and "too long" in info.value.error


async def test_ollama_empty_input_loads_and_legacy_endpoint() -> None:
    engine = FakeEngine()
    r = await post(engine, "/api/embed", {"model": MODEL})
    assert r.status_code == 200 and r.json() == {"model": MODEL, "embeddings": []}
    r = await post(engine, "/api/embed", {"model": MODEL, "input": ""})
    assert r.status_code == 200 and r.json()["embeddings"] == []
    legacy = await ollama_client(engine).embeddings(MODEL, "hello")
    assert list(legacy.embedding) == fake_vector([ord(c) for c in "hello"], 8)
    assert engine.embed_requests[-1].truncate is True
    r = await post(engine, "/api/embeddings", {"model": MODEL, "prompt": ""})
    assert r.status_code == 200 and r.json() == {"embedding": []}


async def test_ollama_errors_in_ollama_shape() -> None:
    client = ollama_client(FakeEngine())
    with pytest.raises(ollama.ResponseError) as info:
        await client.embed(MODEL, "x", dimensions=3)
    assert info.value.status_code == 400 and "dimensions" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        await client.embed("other", "x")
    assert info.value.status_code == 404 and info.value.error == "model 'other' not found"
    r = await post(FakeEngine(), "/api/embed", {"model": MODEL, "input": ["ok", ""]})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = await post(FakeEngine(), "/api/embed", {"model": MODEL, "input": 5})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = await post(FakeEngine(), "/api/embed", {"input": "x"})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}


async def test_show_reports_embedding_capability_of_an_embedding_model() -> None:
    info = ModelInfo(name=MODEL, path="/m.gguf", backend="fake", context_length=64, embedding_length=8,
                     pooling="cls", generates=False)  # fmt: skip
    show = await ollama_client(FakeEngine(info=info)).show(MODEL)
    assert show.capabilities == ["embedding"]
    assert (await ollama_client(FakeEngine()).show(MODEL)).capabilities == ["completion", "tools"]
