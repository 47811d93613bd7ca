"""llama.cpp embeddings in-process: the embedding context is made lazily for a chat model and at load for
an embedding GGUF, concurrent requests share batches, and embedding beside generation works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from chuk_lazarus.backends.llama_cpp.backend import LlamaCppBackend
from chuk_lazarus.core.embedding import EmbeddingRequest
from chuk_lazarus.core.errors import InvalidRequest, UnsupportedFeature
from chuk_lazarus.core.types import GenerationRequest, SamplingParams
from chuk_lazarus.engine.engine import ModelEngine
from tests.make_embedding_gguf import N_EMBD, write_bert_gguf


def llama(engine: ModelEngine) -> LlamaCppBackend:
    assert isinstance(engine.backend, LlamaCppBackend)
    return engine.backend


async def test_an_embedding_gguf_batches_concurrent_requests(tmp_path: Path) -> None:
    path = write_bert_gguf(tmp_path / "bert.gguf")
    engine = await ModelEngine.load(str(path), threads=2)
    try:
        backend = llama(engine)
        info = engine.info
        assert (info.generates, info.embedding_length, info.pooling, info.architecture) == (False, N_EMBD, "mean", "bert")
        assert backend.embedder._runner is not None  # made at load
        texts = [f"the cat sat on mat {i}" for i in range(16)]
        alone = [(await engine.embed(EmbeddingRequest((t,)))).vectors[0] for t in texts]
        before = backend.embedder.batches
        results = await asyncio.gather(*(engine.embed(EmbeddingRequest((t,))) for t in texts))
        assert backend.embedder.batches - before < len(texts)  # requests shared forward passes
        assert np.allclose([r.vectors[0] for r in results], alone, atol=1e-3)  # other kernels per batch shape
        with pytest.raises(UnsupportedFeature, match="embedding model"):
            await engine.start(GenerationRequest(prompt="hi", max_tokens=4))
        with pytest.raises(InvalidRequest):
            await engine.embed(EmbeddingRequest(((1, 99999),)))
    finally:
        await engine.aclose()


async def test_a_chat_model_makes_its_embedding_context_on_first_use_and_keeps_generating() -> None:
    engine = await ModelEngine.load(None, ctx_size=128, parallel=1, threads=2)
    try:
        backend = llama(engine)
        assert engine.info.generates and engine.info.embedding_length == 576 and engine.info.pooling == "mean"
        assert backend.embedder._runner is None  # nothing allocated until someone embeds
        greedy = SamplingParams(temperature=0.0)
        generated, embedded = await asyncio.gather(
            engine.agenerate(GenerationRequest(prompt="The capital of France is", max_tokens=8, sampling=greedy)),
            engine.embed(EmbeddingRequest(("hello world", "goodbye"))),
        )
        assert backend.embedder._runner is not None
        assert generated.text and len(embedded.vectors) == 2 and embedded.prompt_tokens > 0
        assert np.isclose(np.linalg.norm(embedded.vectors[0]), 1.0, atol=1e-5)
    finally:
        await engine.aclose()
