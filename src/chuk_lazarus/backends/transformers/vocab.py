"""The transformers backend's vocabulary: the shared HF one (backends/hf_vocab.py)."""

from __future__ import annotations

from ..hf_vocab import Vocabulary

__all__ = ["Vocabulary"]
