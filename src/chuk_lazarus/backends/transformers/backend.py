"""`TransformersBackend`: an HF safetensors model (AutoModelForCausalLM) behind the engine's Backend API."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.grammar import Constraint
from ...core.settings import ModelSettings
from ...core.types import ModelInfo
from .. import sampling_defaults
from ..embedding import EmbedBatcher
from ..scheduler import ScheduledBackend, Scheduler
from .loading import load_model, require_extra
from .vocab import Vocabulary

if TYPE_CHECKING:
    from .step import Seq

_DTYPE_LABELS = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


class TransformersBackend(ScheduledBackend):
    def __init__(self, path: Path, name: str, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        require_extra()
        import torch

        if settings.threads:
            torch.set_num_threads(settings.threads)
        loaded = load_model(path, settings)
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.vocab = Vocabulary(self.tokenizer, self.model)
        self.vocab_size = self.vocab.n_vocab
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
        from .embed import TransformersEmbedRunner, sentence_transformers_pooling

        pooling = sentence_transformers_pooling(path) or "mean"
        pad_id = self.tokenizer.pad_token_id
        model, device = self.model, loaded.device
        # Lazily, on the first embedding request (no memory is held for it until then).
        self.embedder = EmbedBatcher(
            lambda: TransformersEmbedRunner(model, device=device, pooling=pooling, pad_id=int(pad_id or 0)),
            max_seqs=32,
            max_tokens=ctx_size,
            max_queue=settings.max_queue,
            name="lazarus-transformers-embed",
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
            vocab_size=self.vocab.n_vocab,
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
            embedding_length=int(getattr(config, "hidden_size", 0) or 0),
            pooling=pooling,
            sampling_defaults=sampling_defaults.from_generation_config(
                getattr(self.model, "generation_config", None)
            ),
        )

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = True) -> list[int]:
        encoded = self.tokenizer(text, add_special_tokens=add_special, split_special_tokens=not parse_special)
        return list(encoded["input_ids"])

    def check_constraint(self, constraint: Constraint) -> None:
        self.vocab.constraints.check(constraint)

    def special_token(self, text: str) -> int | None:
        return self.vocab.constraints.special_token(self.tokenize(text, parse_special=True))

    def token_bytes(self, token: int) -> bytes:
        return self.vocab.rendered(token)

    def embed(self, inputs: list[list[int]]) -> Future[list[list[float]]]:
        return self.embedder.submit(inputs)  # token ids checked by the engine (engine/embedding.py)

    def fim_tokens(self) -> tuple[int, int, int] | None:
        return self.vocab.fim_tokens()

    def free(self) -> None:
        self.embedder.close()
        self.model = None
