"""Embeddings on llama.cpp: a second `llama_context` over the same model, with `embeddings = true`.

llama.cpp allows several contexts over one `llama_model` (the weights are read-only; each context has
its own KV memory and buffers), each used by one thread at a time: the generation context by the
scheduler's worker, this one by the embedding worker (backends/embedding.py). So embedding requests
do not wait for decode steps, nor decode steps for embeddings; they share the CPU cores.

Pooling comes from the GGUF (`<arch>.pooling_type`, written by llama.cpp's converter for BERT-,
nomic- and Qwen3-embedding-style models); a chat model has none, and gets mean pooling over its last
hidden states (after the final norm), as llama-server's `--embeddings` does with `--pooling mean`.

When the context is made:
  - a dedicated embedding model: at load (the only thing it does; a failure shows at startup);
  - a chat model: lazily, on the first embedding request. The context needs KV memory and a compute
    buffer sized for a whole context of tokens (llama.cpp computes the LM head for every token of an
    embedding batch), which a chat-only user should not pay for.

One batch is one `llama_decode` over at most `n_seq_max` inputs of at most `ctx_size` tokens in all,
each its own sequence id, every token an output; pooled vectors are read per sequence. The memory is
cleared before each batch: embedding inputs share no prefix state.
"""

from __future__ import annotations

import contextlib
import ctypes
from contextlib import AbstractContextManager

import llama_cpp as C
import numpy as np

from ...core.errors import GenerationFailed, ModelLoadError, UnsupportedFeature
from ..base import BackendJob
from ..scheduler import Placed, Sampled, Wait
from .batch import Batch
from .model import LlamaModel

MAX_SEQS = 32  # inputs per embedding batch (one sequence id each)

_POOLING_NAMES = {
    C.LLAMA_POOLING_TYPE_NONE: "none",
    C.LLAMA_POOLING_TYPE_MEAN: "mean",
    C.LLAMA_POOLING_TYPE_CLS: "cls",
    C.LLAMA_POOLING_TYPE_LAST: "last",
    C.LLAMA_POOLING_TYPE_RANK: "rank",
}


def metadata_pooling(model: LlamaModel) -> int | None:
    """The pooling type the GGUF declares, or None (chat models declare none)."""
    value = model.meta(f"{model.meta('general.architecture') or ''}.pooling_type")
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def embedding_pooling(model: LlamaModel) -> int:
    """The pooling this backend embeds with: the GGUF's own, else mean."""
    declared = metadata_pooling(model)
    if declared is None or declared in (C.LLAMA_POOLING_TYPE_NONE, C.LLAMA_POOLING_TYPE_UNSPECIFIED):
        return int(C.LLAMA_POOLING_TYPE_MEAN)
    return declared


def pooling_name(pooling: int) -> str:
    return _POOLING_NAMES.get(pooling, str(pooling))


def is_embedding_only(model: LlamaModel) -> bool:
    """A model that does not generate text: it declares a pooling (converted as an embedding model),
    its attention is not causal (BERT-style encoders), or it has no decoder (T5 encoders)."""
    arch = model.meta("general.architecture") or ""
    declared = metadata_pooling(model)
    if declared is not None and declared != C.LLAMA_POOLING_TYPE_NONE:
        return True
    if (model.meta(f"{arch}.attention.causal") or "").lower() == "false":
        return True
    return not C.llama_model_has_decoder(model.handle)


def n_embd(model: LlamaModel) -> int:
    # The output size: n_embd, or a sentence-transformers dense projection's size when one is fused in.
    return int(C.llama_model_n_embd_out(model.handle))


class LlamaEmbedRunner:
    """The embedding context: `run` embeds one batch (see the module docstring)."""

    def __init__(self, model: LlamaModel, *, ctx_size: int, threads: int, pooling: int) -> None:
        if pooling == C.LLAMA_POOLING_TYPE_RANK:
            raise ModelLoadError("this GGUF is a reranker (rank pooling), which lazarus does not serve")
        self.model = model
        self.dims = n_embd(model)
        params = C.llama_context_default_params()
        # Non-causal models see a whole batch at once (llama.cpp asserts n_ubatch >= the batch's
        # tokens), and pooled embeddings cannot be split across micro-batches: one ubatch per batch.
        params.n_ctx = ctx_size
        params.n_batch = ctx_size
        params.n_ubatch = ctx_size
        params.n_seq_max = MAX_SEQS
        params.n_threads = threads
        params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = pooling
        params.kv_unified = True  # one pool of cells for however many sequences the batch has
        params.no_perf = True
        self.ctx = C.llama_init_from_model(model.handle, params)
        if not self.ctx:
            raise GenerationFailed("llama.cpp could not create an embedding context (out of memory?)")
        self.memory = C.llama_get_memory(self.ctx)  # NULL for encoders (BERT): nothing to clear
        self.batch = Batch(ctx_size)

    def worker(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def run(self, batch: list[list[int]]) -> np.ndarray:
        if self.memory:
            C.llama_memory_clear(self.memory, True)
        b = self.batch
        b.clear()
        for seq_id, tokens in enumerate(batch):
            b.add(tokens, 0, seq_id, False)
        b.logits[: b.n] = 1  # pooled embeddings need every token as an output
        rc = C.llama_decode(self.ctx, b.ready())
        if rc != 0:
            raise GenerationFailed(f"llama_decode returned {rc} for an embedding batch")
        out = np.empty((len(batch), self.dims), dtype=np.float32)
        for seq_id in range(len(batch)):
            pointer = C.llama_get_embeddings_seq(self.ctx, seq_id)
            if not pointer:
                raise GenerationFailed(f"llama.cpp returned no embedding for sequence {seq_id}")
            out[seq_id] = np.ctypeslib.as_array(
                ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.dims,)
            )
        return out

    def close(self) -> None:
        if self.ctx:
            C.llama_free(self.ctx)
            self.ctx = None


class NoGeneration:
    """The generation `Stepper` of an embedding-only model: it places nothing (the engine refuses
    generation requests before they get here; this is the backstop)."""

    def worker(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def place(self, job: BackendJob) -> Placed[int] | Wait:
        raise UnsupportedFeature("this is an embedding model: it does not generate text", param="model")

    def step(self) -> list[Sampled[int]]:
        return []

    def release(self, seq: int) -> None:
        pass

    def reset(self) -> None:
        pass

    def is_eog(self, token: int) -> bool:
        return True

    def piece(self, token: int) -> bytes:
        return b""

    def prompt_cache(self) -> tuple[int, int, int]:
        return 0, 0, 0

    def close(self) -> None:
        pass
