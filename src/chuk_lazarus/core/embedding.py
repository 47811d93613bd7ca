"""The engine's embedding vocabulary: what protocols ask for and what they get back.

An input is text (tokenized by the model's own tokenizer, with its special tokens, e.g. BERT's
[CLS] … [SEP]) or token ids as given. Every vector is L2-normalized, as OpenAI's and Ollama's are.
"""

from __future__ import annotations

from dataclasses import dataclass

EmbeddingInput = str | tuple[int, ...]


@dataclass(frozen=True)
class EmbeddingRequest:
    inputs: tuple[EmbeddingInput, ...]
    # True: an input longer than the context is cut to fit (Ollama's default). False: it is a 400.
    truncate: bool = False
    # The size asked for; only the model's own size is accepted (no Matryoshka truncation).
    dimensions: int | None = None


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]  # one per input, in input order
    prompt_tokens: int  # tokens embedded, after truncation, over all inputs
