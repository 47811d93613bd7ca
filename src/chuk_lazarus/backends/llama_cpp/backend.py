"""`LlamaCppBackend`: a GGUF model, its `llama_context` step, and the shared scheduler that runs it."""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import llama_cpp as C

from ...core.errors import ModelLoadError
from ...core.grammar import Constraint
from ...core.settings import ModelSettings
from ...core.types import ModelInfo
from .. import sampling_defaults
from ..control_text import control_marks
from ..embedding import EmbedBatcher
from ..guidance import ConstraintCompiler
from ..scheduler import ScheduledBackend, Scheduler
from .disk_cache import DiskCache, fingerprint
from .embed import (
    MAX_SEQS,
    LlamaEmbedRunner,
    NoGeneration,
    embedding_pooling,
    is_embedding_only,
    n_embd,
    pooling_name,
)
from .model import LlamaModel
from .step import LlamaStepper, Speculation

# The file-type numbers llama.cpp writes into `general.file_type`, for /api/show and banners.
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
               11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
               17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}  # fmt: skip


class LlamaCppBackend(ScheduledBackend):
    def __init__(self, path: Path, name: str, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        self.model = LlamaModel(path)
        ctx_size = settings.context_for(self.model.n_ctx_train)
        threads = settings.threads or os.cpu_count() or 1
        generates = not is_embedding_only(self.model)
        if not generates:  # an encoder's positions end at its trained context
            ctx_size = min(ctx_size, self.model.n_ctx_train or ctx_size)
        pooling = embedding_pooling(self.model)
        disk = None
        if settings.cache_dir and generates:
            try:
                disk = DiskCache(
                    Path(settings.cache_dir).expanduser(),
                    settings.cache_disk * 1024 * 1024,
                    fingerprint(path, f"llama-cpp-python {C.__version__}"),
                )
            except OSError as exc:
                self.model.close()
                raise ModelLoadError(f"--cache-dir {settings.cache_dir} cannot be used: {exc}") from exc
        self.stepper: LlamaStepper | NoGeneration = NoGeneration()
        try:
            if generates:
                self.constraints = ConstraintCompiler(self.model.lltokenizer(), self.model.n_vocab)
                self.stepper = LlamaStepper(
                    self.model,
                    ctx_size=ctx_size,
                    parallel=settings.parallel,
                    threads=threads,
                    batch_size=settings.batch_size,
                    cache_ram_bytes=settings.cache_ram * 1024 * 1024,
                    speculation=Speculation(settings.draft_max, settings.draft_ngram),
                    disk_cache=disk,
                    constraints=self.constraints,
                )
            # See embed.py: made at load for an embedding model, on first use for a chat model.
            model = self.model
            self.embedder = EmbedBatcher(
                lambda: LlamaEmbedRunner(model, ctx_size=ctx_size, threads=threads, pooling=pooling),
                max_seqs=MAX_SEQS,
                max_tokens=ctx_size,
                max_queue=settings.max_queue,
                name="lazarus-llama-cpp-embed",
                eager=not generates,
            )
        except Exception:
            self.stepper.close()
            self.model.close()
            raise
        self.scheduler: Scheduler[Any] = Scheduler(
            self.stepper,
            slots=settings.parallel,
            context=ctx_size,
            max_queue=settings.max_queue,
            name="lazarus-llama-cpp",
        )
        template = self.model.meta("tokenizer.chat_template") or ""
        file_type = self.model.meta("general.file_type")
        self.vocab_size = self.model.n_vocab
        self._control_marks = control_marks(self.model.control_texts())
        self.bos_token = self.model.token_text(self.model.bos)
        self.eos_token = self.model.token_text(self.model.eos)
        self.info = ModelInfo(
            name=name,
            path=str(path),
            backend="llama.cpp",
            context_length=ctx_size,
            architecture=self.model.meta("general.architecture") or "",
            vocab_size=self.model.n_vocab,
            parameter_count=self.model.n_params,
            quantization=_FILE_TYPES.get(int(file_type), file_type) if file_type else "",
            file_format="gguf",
            chat_template=template if generates else "",
            embedding_length=n_embd(self.model),
            pooling=pooling_name(pooling),
            generates=generates,
            sampling_defaults=sampling_defaults.from_gguf(self.model.meta),
            extra={
                "description": self.model.description(),
                "context_length_train": self.model.n_ctx_train,
                "parallel": settings.parallel,
                "threads": threads,
                "size_label": self.model.meta("general.size_label") or "",
            },
        )

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = True) -> list[int]:
        return self.model.tokenize(
            text, add_special=add_special and self.model.adds_bos, parse_special=parse_special
        )

    def may_hold_control_text(self, text: str) -> bool:
        return self._control_marks is None or self._control_marks.search(text) is not None

    def check_constraint(self, constraint: Constraint) -> None:
        self.constraints.check(constraint)

    def special_token(self, text: str) -> int | None:
        return self.constraints.special_token(self.tokenize(text, parse_special=True))

    def token_bytes(self, token: int) -> bytes:
        return self.model.piece(token, special=True)

    def embed(self, inputs: list[list[int]]) -> Future[list[list[float]]]:
        return self.embedder.submit(inputs)  # token ids checked by the engine (engine/embedding.py)
    def fim_tokens(self) -> tuple[int, int, int] | None:
        return self.model.fim_tokens()

    def free(self) -> None:
        self.embedder.close()
        self.stepper.close()
        self.model.close()
