"""Write a tiny BERT embedding GGUF at test time (never committed): random weights, a small WordPiece vocab.

It is what an embedding-only model looks like to llama.cpp — architecture `bert`, non-causal attention,
`bert.pooling_type` in its metadata, no chat template — so tests can serve a dedicated embedding model
without downloading one. Its vectors mean nothing (the weights are random, seeded); tests use it for
shapes, batching, normalization and refusals, and the embedded SmolLM2 for similarity.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

N_EMBD = 32
N_HEAD = 2
N_FF = 64
N_LAYER = 2
N_CTX = 128

_LINES = (
    "the a an is are was of to in on and or for with cat cats dog dogs sat mat sun sky blue red",
    "hello world what capital france paris weather today rain cold warm stock market fell rose",
    "i you he she it we they this that my your",
)
_WORDS = [word for line in _LINES for word in line.split()]
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'"


def vocab() -> list[str]:
    """BERT's special-token layout ([PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103), then words
    as llama.cpp's WordPiece stores them: `▁word` starts a word, a bare piece continues one (`##x`)."""
    tokens = ["[PAD]", *(f"[unused{i}]" for i in range(1, 100)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += [f"\u2581{w}" for w in _WORDS]
    tokens += [f"\u2581{c}" for c in _LETTERS]
    tokens += list(_LETTERS)
    return list(dict.fromkeys(tokens))  # a token may be listed once only ("▁a" is a word and a letter)


def write_bert_gguf(path: Path, *, seed: int = 0) -> Path:
    import gguf

    rng = np.random.default_rng(seed)
    tokens = vocab()

    def w(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), arch="bert")
    writer.add_name("tiny-bert-embed")
    writer.add_file_type(int(gguf.LlamaFileType.ALL_F32))
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_block_count(N_LAYER)
    writer.add_head_count(N_HEAD)
    writer.add_layer_norm_eps(1e-12)
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_tokenizer_model("bert")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t.startswith("[") else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_type_count(2)
    writer.add_unk_token_id(100)
    writer.add_bos_token_id(101)  # [CLS]
    writer.add_sep_token_id(102)
    writer.add_pad_token_id(0)
    writer.add_mask_token_id(103)
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)
    # gguf stores tensors as numpy shapes (rows, cols) = llama.cpp's {cols, rows}.
    writer.add_tensor("token_embd.weight", w(len(tokens), N_EMBD, scale=1.0))
    writer.add_tensor("token_types.weight", w(2, N_EMBD))
    writer.add_tensor("position_embd.weight", w(N_CTX, N_EMBD))
    writer.add_tensor("token_embd_norm.weight", ones(N_EMBD))
    writer.add_tensor("token_embd_norm.bias", zeros(N_EMBD))
    for i in range(N_LAYER):
        b = f"blk.{i}"
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{b}.{name}.weight", w(N_EMBD, N_EMBD))
            writer.add_tensor(f"{b}.{name}.bias", zeros(N_EMBD))
        writer.add_tensor(f"{b}.attn_output_norm.weight", ones(N_EMBD))
        writer.add_tensor(f"{b}.attn_output_norm.bias", zeros(N_EMBD))
        writer.add_tensor(f"{b}.ffn_up.weight", w(N_FF, N_EMBD))
        writer.add_tensor(f"{b}.ffn_up.bias", zeros(N_FF))
        writer.add_tensor(f"{b}.ffn_down.weight", w(N_EMBD, N_FF))
        writer.add_tensor(f"{b}.ffn_down.bias", zeros(N_EMBD))
        writer.add_tensor(f"{b}.layer_output_norm.weight", ones(N_EMBD))
        writer.add_tensor(f"{b}.layer_output_norm.bias", zeros(N_EMBD))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(partial, path)
    return path
