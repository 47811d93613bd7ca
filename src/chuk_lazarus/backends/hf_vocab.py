"""A Hugging Face tokenizer's vocabulary as a backend needs it: token bytes, end-of-turn ids, and
llguidance's tokenizer, computed once per model. Shared by the backends that load HF folders
(transformers, vLLM): the same bytes and the same constraint compile errors on both."""

from __future__ import annotations

import threading
from typing import Any

# (prefix, suffix, middle) token names: StarCoder/SantaCoder, Qwen2.5-Coder, CodeLlama/Llama-style.
_FIM_NAMES = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
    ("▁<PRE>", "▁<SUF>", "▁<MID>"),
)


class Vocabulary:
    """Token bytes, end-of-sequence ids and the grammar library's tokenizer, computed once per model.

    `model` is anything with a transformers `config` (and optionally `generation_config`): the loaded
    model, or for a backend that holds no model object, the folder's configs."""

    def __init__(self, tokenizer: Any, model: Any) -> None:
        from .guidance import ConstraintCompiler

        self.tokenizer = tokenizer
        self.eos_ids = _eos_ids(tokenizer, model)
        n_vocab = max(len(tokenizer), int(getattr(model.config.get_text_config(), "vocab_size", 0) or 0))
        self.n_vocab = n_vocab
        self._lltokenizer = make_lltokenizer(tokenizer, sorted(self.eos_ids), n_vocab)
        self.constraints = ConstraintCompiler(self._lltokenizer, n_vocab)
        self._special = set(tokenizer.all_special_ids) | {
            i for i, t in tokenizer.added_tokens_decoder.items() if t.special
        }
        self._pieces: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def lltokenizer(self) -> Any:
        return self._lltokenizer

    def rendered(self, token: int) -> bytes:
        """Bytes of a token with special tokens written out (e.g. b"<|im_end|>")."""
        with self._lock:
            cached = self._pieces.get(token)
            if cached is None:
                cached = (
                    self._lltokenizer.decode_bytes([token]) if token < self._lltokenizer.vocab_size else b""
                )
                self._pieces[token] = cached
        return cached

    def fim_tokens(self) -> tuple[int, int, int] | None:
        """Fill-in-the-middle prefix, suffix and middle tokens, by the names the FIM-trained families use."""
        vocab = self.tokenizer.get_vocab()
        for names in _FIM_NAMES:
            ids = tuple(vocab.get(name) for name in names)
            if all(i is not None for i in ids):
                return (int(ids[0] or 0), int(ids[1] or 0), int(ids[2] or 0))
        return None

    def piece(self, token: int) -> bytes:
        """Bytes a token adds to the output text: control tokens add nothing (as in llama.cpp)."""
        return b"" if token in self._special else self.rendered(token)


def make_lltokenizer(tokenizer: Any, eos_ids: list[int], n_vocab: int) -> Any:
    """llguidance's view of the vocabulary (built once per model: about a second for 50k tokens)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=eos_ids)


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """Every id that ends a turn: the tokenizer's EOS plus generation_config's (often a list)."""
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids
