"""Embeddings through a real `lazarus serve`: the openai SDK, LangChain's `OpenAIEmbeddings` and
`OllamaEmbeddings`, the `ollama` client; on both backends (the embedded SmolLM2, mean-pooled), and a
dedicated BERT embedding GGUF written at test time (tests/make_embedding_gguf.py) that refuses chat."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import numpy as np
import ollama
import openai
import pytest

from tests.conftest import Serve
from tests.contract.server import LazarusProcess
from tests.make_embedding_gguf import N_CTX, N_EMBD, write_bert_gguf

pytestmark = [
    pytest.mark.contract,
    pytest.mark.backends("llama.cpp", "transformers", reason="the vllm backend serves no embeddings"),
]

CTX = 256  # a short context keeps the too-long and truncation cases cheap
DIMS = 576  # SmolLM2-135M's hidden size
# Two paraphrase pairs on unrelated topics; measured on SmolLM2 mean pooling (both backends):
# within a pair cosine ~0.93-0.95, across pairs ~0.71-0.80.
CATS = ("The cat sat on the mat.", "A cat was sitting on a rug.")
STOCKS = ("The stock market fell sharply today.", "Stocks dropped a lot on Wall Street.")


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--protocols", "openai,ollama", "--parallel", "2", "--ctx-size", str(CTX))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


def vectors(response: object) -> np.ndarray:
    return np.array([d.embedding for d in response.data])  # type: ignore[attr-defined]


def test_openai_sdk_shapes_usage_and_unit_vectors(client: openai.OpenAI, model: str) -> None:
    one = client.embeddings.create(model=model, input="hello world", encoding_format="float")
    assert one.object == "list" and one.model == model and len(one.data) == 1
    assert one.data[0].object == "embedding" and one.data[0].index == 0 and len(one.data[0].embedding) == DIMS
    assert one.usage.prompt_tokens == one.usage.total_tokens > 0
    many = client.embeddings.create(model=model, input=[*CATS, *STOCKS], encoding_format="float")
    assert [d.index for d in many.data] == [0, 1, 2, 3]
    assert np.allclose(np.linalg.norm(vectors(many), axis=1), 1.0, atol=1e-5)
    # Token ids, and a list of token lists, embed the same as the text they came from.
    ids = client.embeddings.create(model=model, input=[[24, 25, 26], [27, 28]], encoding_format="float")
    assert len(ids.data) == 2 and ids.usage.prompt_tokens == 5
    single = client.embeddings.create(model=model, input=[24, 25, 26], encoding_format="float")
    assert single.usage.prompt_tokens == 3
    assert np.allclose(vectors(single)[0], vectors(ids)[0], atol=2e-3)
    same = client.embeddings.create(model=model, input="x", dimensions=DIMS, user="me", encoding_format="float")
    assert len(same.data[0].embedding) == DIMS


def test_base64_round_trip_equals_float(client: openai.OpenAI, model: str, server: LazarusProcess) -> None:
    floats = vectors(client.embeddings.create(model=model, input=CATS[0], encoding_format="float"))[0]
    decoded = vectors(client.embeddings.create(model=model, input=CATS[0]))[0]  # the SDK's default: base64
    assert np.allclose(decoded, floats, atol=1e-6)
    raw = httpx.post(f"{server.base_url}/v1/embeddings",
                     json={"model": model, "input": CATS[0], "encoding_format": "base64"}).json()  # fmt: skip
    ours = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert ours.shape == (DIMS,) and np.allclose(ours, floats, atol=1e-6)


def test_batch_equals_one_by_one_and_concurrent_requests(client: openai.OpenAI, model: str) -> None:
    texts = [*CATS, *STOCKS]
    batch = vectors(client.embeddings.create(model=model, input=texts, encoding_format="float"))
    alone = np.stack(
        [vectors(client.embeddings.create(model=model, input=t, encoding_format="float"))[0] for t in texts]
    )
    # Batched with others, 16-bit llama.cpp matmuls take other kernels: close, not bit-identical.
    assert np.allclose(batch, alone, atol=2e-3) and (np.sum(batch * alone, axis=1) > 0.9999).all()
    with ThreadPoolExecutor(8) as pool:  # concurrent requests share the embedding worker's batches
        results = list(pool.map(
            lambda t: vectors(client.embeddings.create(model=model, input=t, encoding_format="float"))[0],
            texts,
        ))  # fmt: skip
    assert np.allclose(np.stack(results), alone, atol=2e-3)


def test_similar_sentences_are_closer_than_unrelated_ones(client: openai.OpenAI, model: str) -> None:
    v = vectors(client.embeddings.create(model=model, input=[*CATS, *STOCKS], encoding_format="float"))
    sim = v @ v.T
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) + 0.05, sim
    assert sim[2, 3] > max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) + 0.05, sim


def test_openai_errors_are_400s_and_the_server_keeps_serving(
    client: openai.OpenAI, model: str, server: LazarusProcess
) -> None:
    too_long = "hello " * (CTX + 50)
    cases = [
        ({"input": too_long}, "input[0]", "context_length_exceeded"),
        ({"input": ""}, "input[0]", None),
        ({"input": []}, "input", None),
        ({"input": "x", "dimensions": 64}, "dimensions", "unsupported_value"),
        ({"input": [1, 10**9]}, "input[0]", None),
        ({"input": {"a": 1}}, "input", None),
    ]
    for body, param, code in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.embeddings.create(model=model, **body)  # type: ignore[arg-type]
        error = info.value.body
        assert isinstance(error, dict) and error["param"] == param and error["code"] == code, error
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert httpx.get(f"{server.base_url}/health").status_code == 200
    assert len(client.embeddings.create(model=model, input="still here").data) == 1


def test_langchain_openai_embeddings(server: LazarusProcess, model: str) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    embeddings = langchain_openai.OpenAIEmbeddings(
        model=model, base_url=f"{server.base_url}/v1", api_key="x",
        check_embedding_ctx_length=False, tiktoken_enabled=False, max_retries=0,
    )  # fmt: skip
    docs = embeddings.embed_documents([*CATS, STOCKS[0]])
    query = embeddings.embed_query(CATS[0])
    assert len(docs) == 3 and all(len(d) == DIMS for d in docs) and len(query) == DIMS
    assert np.allclose(query, docs[0], atol=2e-3)
    assert np.dot(docs[0], docs[1]) > np.dot(docs[0], docs[2])


def test_langchain_ollama_embeddings(server: LazarusProcess, model: str) -> None:
    langchain_ollama = pytest.importorskip("langchain_ollama")
    embeddings = langchain_ollama.OllamaEmbeddings(model=model, base_url=server.base_url)
    docs = embeddings.embed_documents([*CATS, STOCKS[0]])
    query = embeddings.embed_query(CATS[0])
    assert len(docs) == 3 and len(query) == DIMS
    assert np.allclose(query, docs[0], atol=2e-3)
    assert np.dot(docs[0], docs[1]) > np.dot(docs[0], docs[2])


def test_ollama_client_embed_embeddings_and_truncate(server: LazarusProcess, model: str) -> None:
    client = ollama.Client(host=server.base_url)
    result = client.embed(model, [*CATS])
    assert result.model == model and len(result.embeddings) == 2 and len(result.embeddings[0]) == DIMS
    assert (result.prompt_eval_count or 0) > 0 and (result.total_duration or 0) > 0
    legacy = client.embeddings(model, CATS[0])
    assert np.allclose(legacy.embedding, result.embeddings[0], atol=2e-3)
    too_long = "hello " * (CTX + 50)
    cut = client.embed(model, too_long)  # truncate defaults to true: cut to the context
    assert cut.prompt_eval_count == CTX and len(cut.embeddings[0]) == DIMS
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model, too_long, truncate=False)
    assert info.value.status_code == 400 and "context" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model, "x", dimensions=8)
    assert info.value.status_code == 400 and "dimensions" in info.value.error
    assert client.embed(model, "x", dimensions=DIMS).embeddings


# ---- a dedicated embedding model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazarusProcess]:
    path = write_bert_gguf(Path(tmp_path_factory.mktemp("bert")) / "tiny-bert-embed.gguf")
    process = LazarusProcess(["--model", str(path), "--protocols", "openai,ollama,anthropic"])
    yield process
    process.stop()


def test_an_embedding_gguf_embeds(bert_server: LazarusProcess) -> None:
    client = openai.OpenAI(base_url=f"{bert_server.base_url}/v1", api_key="x", max_retries=0)
    model = client.models.list().data[0].id
    texts = ["hello world", "the cat sat on the mat", "what is the capital of france"]
    batch = vectors(client.embeddings.create(model=model, input=texts, encoding_format="float"))
    assert batch.shape == (3, N_EMBD) and np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    alone = np.stack(
        [vectors(client.embeddings.create(model=model, input=t, encoding_format="float"))[0] for t in texts]
    )
    assert np.allclose(batch, alone, atol=1e-3)  # batch shape picks other matmul kernels: ~1e-4 apart
    # [CLS] hello world [SEP]: the model's own special tokens are added.
    assert client.embeddings.create(model=model, input="hello world").usage.prompt_tokens == 4
    ollama_client = ollama.Client(host=bert_server.base_url)
    cut = ollama_client.embed(model, "cat " * (N_CTX + 10))
    assert cut.prompt_eval_count == N_CTX
    assert ollama_client.show(model).capabilities == ["embedding"]


def test_an_embedding_gguf_refuses_generation_in_every_protocol(bert_server: LazarusProcess) -> None:
    url = bert_server.base_url
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    model = client.models.list().data[0].id
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert isinstance(info.value.body, dict) and info.value.body["param"] == "model"
    assert "embedding model" in info.value.body["message"]
    for path, body in [
        ("/api/chat", {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        ("/api/generate", {"model": model, "prompt": "hi"}),
    ]:
        r = httpx.post(f"{url}{path}", json=body)
        assert r.status_code == 400 and "embedding model" in r.json()["error"], r.text
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic.Anthropic(base_url=url, api_key="x", max_retries=0).messages.create(
            model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert "embedding model" in str(refused.value)
    assert httpx.get(f"{url}/health").status_code == 200  # still serving
    assert len(client.embeddings.create(model=model, input="hello").data) == 1
