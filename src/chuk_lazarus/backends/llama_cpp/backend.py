"""`LlamaCppBackend`: a GGUF model, its `llama_context` step, and the shared scheduler that runs it."""

from __future__ import annotations

import os
from pathlib import Path

from ...core.grammar import Constraint
from ...core.settings import ModelSettings
from ...core.types import ModelInfo
from ..guidance import ConstraintCompiler
from ..scheduler import ScheduledBackend, Scheduler
from .model import LlamaModel
from .step import LlamaStepper, Slot

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
        try:
            self.constraints = ConstraintCompiler(self.model.lltokenizer(), self.model.n_vocab)
            self.stepper = LlamaStepper(
                self.model,
                ctx_size=ctx_size,
                parallel=settings.parallel,
                threads=threads,
                batch_size=settings.batch_size,
                cache_ram_bytes=settings.cache_ram * 1024 * 1024,
                constraints=self.constraints,
            )
        except Exception:
            self.model.close()
            raise
        self.scheduler: Scheduler[Slot] = Scheduler(
            self.stepper,
            slots=settings.parallel,
            context=ctx_size,
            max_queue=settings.max_queue,
            name="lazarus-llama-cpp",
        )
        template = self.model.meta("tokenizer.chat_template") or ""
        file_type = self.model.meta("general.file_type")
        self.bos_token = self.model.token_text(self.model.bos)
        self.eos_token = self.model.token_text(self.model.eos)
        self.info = ModelInfo(
            name=name,
            path=str(path),
            backend="llama.cpp",
            context_length=ctx_size,
            architecture=self.model.meta("general.architecture") or "",
            parameter_count=self.model.n_params,
            quantization=_FILE_TYPES.get(int(file_type), file_type) if file_type else "",
            file_format="gguf",
            chat_template=template,
            extra={
                "description": self.model.description(),
                "context_length_train": self.model.n_ctx_train,
                "parallel": settings.parallel,
                "threads": threads,
                "size_label": self.model.meta("general.size_label") or "",
            },
        )

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.model.tokenize(text, add_special=add_special and self.model.adds_bos)

    def check_constraint(self, constraint: Constraint) -> None:
        self.constraints.check(constraint)

    def token_bytes(self, token: int) -> bytes:
        return self.model.piece(token, special=True)

    def free(self) -> None:
        self.stepper.close()
        self.model.close()
