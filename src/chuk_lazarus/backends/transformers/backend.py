"""`TransformersBackend`: an HF safetensors model (AutoModelForCausalLM) behind the engine's Backend API."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.settings import ModelSettings
from ...core.types import LoadStats, ModelInfo
from ..base import Backend, BackendJob
from ..scheduler import Scheduler
from .loading import load_model, require_extra

if TYPE_CHECKING:
    from .step import Seq

_DTYPE_LABELS = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


class Vocabulary:
    """Token bytes, end-of-sequence ids and the grammar library's tokenizer, computed once per model."""

    def __init__(self, tokenizer: Any, model: Any) -> None:
        from .sampler import make_lltokenizer

        self.tokenizer = tokenizer
        self.eos_ids = _eos_ids(tokenizer, model)
        n_vocab = max(len(tokenizer), int(getattr(model.config.get_text_config(), "vocab_size", 0) or 0))
        self._lltokenizer = make_lltokenizer(tokenizer, sorted(self.eos_ids), n_vocab)
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

    def piece(self, token: int) -> bytes:
        """Bytes a token adds to the output text: control tokens add nothing (as in llama.cpp)."""
        return b"" if token in self._special else self.rendered(token)


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


class TransformersBackend(Backend):
    def __init__(self, path: Path, name: str, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        require_extra()
        import torch

        if settings.threads:
            torch.set_num_threads(settings.threads)
        loaded = load_model(
            path,
            device=settings.device,
            dtype=settings.dtype,
            trust_remote_code=settings.trust_remote_code,
            allow_pickle=settings.allow_pickle,
        )
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.vocab = Vocabulary(self.tokenizer, self.model)
        config = self.model.config.get_text_config()
        trained = int(getattr(config, "max_position_embeddings", 0) or 0)
        ctx_size = settings.context_for(trained)
        from .step import TransformersStepper  # imports torch: only once the extra is known present

        stepper = TransformersStepper(
            self.model, self.vocab, device=loaded.device, batch_size=settings.batch_size
        )
        self.scheduler: Scheduler[Seq] = Scheduler(
            stepper,
            slots=settings.parallel,
            context=ctx_size,
            max_queue=settings.max_queue,
            name="lazarus-transformers",
        )
        template = self.tokenizer.chat_template or ""
        if isinstance(template, dict):  # some tokenizers carry several named templates
            template = template.get("default") or next(iter(template.values()), "")
        self.bos_token = self.tokenizer.bos_token or ""
        self.eos_token = self.tokenizer.eos_token or ""
        dtype_name = str(loaded.dtype).removeprefix("torch.")
        self.info = ModelInfo(
            name=name,
            path=str(path),
            backend="transformers",
            context_length=ctx_size,
            architecture=str(getattr(config, "model_type", "") or ""),
            parameter_count=sum(p.numel() for p in self.model.parameters()),
            quantization=_DTYPE_LABELS.get(dtype_name, dtype_name),
            file_format="safetensors",
            chat_template=template,
            extra={
                "context_length_train": trained,
                "parallel": settings.parallel,
                "device": loaded.device,
                "dtype": dtype_name,
                "threads": torch.get_num_threads(),
                "architectures": list(getattr(self.model.config, "architectures", None) or []),
            },
        )

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=add_special)["input_ids"])

    def token_bytes(self, token: int) -> bytes:
        return self.vocab.rendered(token)

    def submit(self, job: BackendJob) -> None:
        self.scheduler.submit(job)

    def cancel(self, job: BackendJob) -> None:
        self.scheduler.cancel(job)

    def load_stats(self) -> LoadStats:
        return self.scheduler.stats()

    def close(self) -> None:
        self.scheduler.close()
        self.model = None
