"""Embedding requests, protocol-neutral: check, tokenize (off the event loop), truncate, hand to the backend.

The backend batches inputs across requests on its own thread (backends/embedding.py); this awaits its
future, so the event loop never blocks and no thread waits per request.
"""

from __future__ import annotations

import asyncio

from ..backends.base import Backend
from ..core.embedding import EmbeddingRequest, EmbeddingResult
from ..core.errors import ContextLengthExceeded, InvalidRequest, UnsupportedFeature
from ..core.types import ModelInfo


def check_embeddable(info: ModelInfo, request: EmbeddingRequest) -> None:
    if not info.embedding_length:
        raise UnsupportedFeature(f"model '{info.name}' does not support embeddings", param="model")
    if not request.inputs:
        raise InvalidRequest("input must not be empty", param="input")
    if request.dimensions is not None and request.dimensions != info.embedding_length:
        raise UnsupportedFeature(
            f"dimensions={request.dimensions} is not supported: model '{info.name}' makes "
            f"{info.embedding_length}-dimensional embeddings and cannot shorten them",
            param="dimensions",
        )
    for i, item in enumerate(request.inputs):
        if len(item) == 0:
            what = "an empty string" if isinstance(item, str) else "an empty token list"
            raise InvalidRequest(f"input[{i}] is {what}; every input needs at least one token", param=f"input[{i}]")


def tokenize_inputs(backend: Backend, request: EmbeddingRequest) -> list[list[int]]:
    """Token lists for every input, each within the context (cut to it when `truncate`)."""
    limit = backend.info.context_length
    out = []
    for i, item in enumerate(request.inputs):
        tokens = backend.tokenize(item, add_special=True) if isinstance(item, str) else list(item)
        if not tokens:
            raise InvalidRequest(f"input[{i}] has no tokens", param=f"input[{i}]")
        size = backend.vocab_size
        if any(t < 0 or t >= size for t in tokens):
            raise InvalidRequest(f"input[{i}] has a token id outside the vocabulary (0..{size - 1})",
                                 param=f"input[{i}]")  # fmt: skip
        if len(tokens) > limit:
            if not request.truncate:
                raise ContextLengthExceeded(
                    f"input[{i}] is {len(tokens)} tokens, more than the model's context of {limit} tokens",
                    param=f"input[{i}]",
                )
            tokens = tokens[:limit]
        out.append(tokens)
    return out


async def embed(backend: Backend, request: EmbeddingRequest) -> EmbeddingResult:
    check_embeddable(backend.info, request)
    tokens = await asyncio.to_thread(tokenize_inputs, backend, request)
    vectors = await asyncio.wrap_future(backend.embed(tokens))  # raises Overloaded when the queue is full
    return EmbeddingResult(vectors, sum(len(t) for t in tokens))
