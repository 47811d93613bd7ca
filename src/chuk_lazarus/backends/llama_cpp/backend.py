"""`LlamaCppBackend`: a GGUF model plus the continuous-batching scheduler that runs it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...engine.types import ModelInfo
from ..base import Backend, BackendJob
from .model import LlamaModel
from .scheduler import Scheduler

# The file-type numbers llama.cpp writes into `general.file_type`, for /api/show and banners.
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
               11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
               17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}  # fmt: skip


@dataclass(frozen=True)
class LlamaCppSettings:
    n_ctx: int | None = None  # context per sequence; None: the model's training context, capped at 4096
    n_parallel: int = 4
    n_threads: int | None = None  # None: every core
    n_batch: int = 512
    max_queue: int = 64


class LlamaCppBackend(Backend):
    def __init__(self, path: Path, name: str, settings: LlamaCppSettings | None = None) -> None:
        settings = settings or LlamaCppSettings()
        self.model = LlamaModel(path)
        n_ctx = settings.n_ctx or min(self.model.n_ctx_train or 4096, 4096)
        threads = settings.n_threads or os.cpu_count() or 1
        try:
            self.scheduler = Scheduler(
                self.model,
                n_ctx_per_seq=n_ctx,
                n_parallel=settings.n_parallel,
                n_threads=threads,
                n_batch=settings.n_batch,
                max_queue=settings.max_queue,
            )
        except Exception:
            self.model.close()
            raise
        template = self.model.meta("tokenizer.chat_template") or ""
        file_type = self.model.meta("general.file_type")
        self.bos_token = self.model.token_text(self.model.bos)
        self.eos_token = self.model.token_text(self.model.eos)
        self.info = ModelInfo(
            name=name,
            path=str(path),
            backend="llama.cpp",
            context_length=n_ctx,
            architecture=self.model.meta("general.architecture") or "",
            parameter_count=self.model.n_params,
            quantization=_FILE_TYPES.get(int(file_type), file_type) if file_type else "",
            file_format="gguf",
            chat_template=template,
            extra={
                "description": self.model.description(),
                "context_length_train": self.model.n_ctx_train,
                "parallel": settings.n_parallel,
                "threads": threads,
                "size_label": self.model.meta("general.size_label") or "",
            },
        )

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return self.model.tokenize(text, add_special=add_special and self.model.adds_bos)

    def token_bytes(self, token: int) -> bytes:
        return self.model.piece(token, special=True)

    def submit(self, job: BackendJob) -> None:
        self.scheduler.submit(job)

    def cancel(self, job: BackendJob) -> None:
        job.cancelled = True
        self.scheduler.wake()

    def load_stats(self) -> dict[str, int]:
        return self.scheduler.stats()

    def close(self) -> None:
        self.scheduler.close()
        self.model.close()
