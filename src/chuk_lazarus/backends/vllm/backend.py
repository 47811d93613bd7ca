"""`VllmBackend`: an HF model folder on vLLM's `AsyncLLM`, behind the engine's thread-based Backend API.

Our Backend API is threads (submit and cancel from any thread, sinks called on the backend's thread);
vLLM's is asyncio. So the engine lives on an event loop of its own, run by one dedicated thread: every
job is a task there (stream.py), and every sink call happens on that thread, as on the other backends'
worker threads. Tokenizing is ours, through the folder's HF tokenizer (the shared `Vocabulary`), so
tokens, token bytes and constraint compile errors are the transformers backend's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ...core.errors import GenerationFailed, InvalidRequest, ModelLoadError
from ...core.grammar import Constraint
from ...core.settings import ModelSettings
from ...core.types import LoadStats, ModelInfo
from .. import sampling_defaults
from ..base import Backend, BackendJob
from ..hf_vocab import Vocabulary
from . import loading
from .mapping import grammar_for, sampling_kwargs
from .stream import JobRunner

log = logging.getLogger(__name__)

_DTYPE_LABELS = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
_START_TIMEOUT_S = 1800.0  # a large model's weights from a slow disk, or a first torch.compile


class VllmBackend(Backend):
    def __init__(self, path: Path, name: str, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        loading.require_extra()
        cpu = loading.cpu_platform()
        loading.quiet_defaults(cpu=cpu, threads=settings.threads)
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"not a Hugging Face model folder (no config.json): {path}")
        from transformers import AutoTokenizer

        config, generation = loading.model_config(path, settings.trust_remote_code)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=settings.trust_remote_code)
        except Exception as exc:  # noqa: BLE001 - any failure inside transformers is a load error
            raise ModelLoadError(f"could not load the tokenizer from {path}: {exc}") from None
        text_config = config.get_text_config()
        self.vocab = Vocabulary(self.tokenizer, _Configs(config, generation))
        self.vocab_size = self.vocab.n_vocab
        trained = int(getattr(text_config, "max_position_embeddings", 0) or 0)
        self.context = settings.context_for(trained)
        args = loading.engine_args(path, settings, context=self.context, cpu=cpu)

        self._stats_target: list[JobRunner] = []  # filled once the runner exists (the engine needs it first)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve_loop, name="lazarus-vllm", daemon=True)
        self.thread.start()
        started = time.perf_counter()
        try:
            self.engine = self._call(self._start_engine(args), timeout=_START_TIMEOUT_S)
        except ModelLoadError:
            self._stop_loop()
            raise
        except Exception as exc:  # noqa: BLE001 - vLLM's start fails in many ways; say it in one line
            self._stop_loop()
            raise ModelLoadError(f"vLLM could not start {path}: {_one_line(exc)}") from None
        log.info("vLLM engine started in %.1f s", time.perf_counter() - started)
        self.runner = JobRunner(
            self.engine,
            self.loop,
            make_request=self._request,
            is_eog=self.vocab.eos_ids.__contains__,
            piece=self.vocab.piece,
            classify=_classify,
            context=self.context,
            slots=settings.parallel,
            max_queue=settings.max_queue,
        )
        self._stats_target.append(self.runner)
        cache = getattr(self.engine.vllm_config, "cache_config", None)
        blocks, block_size = getattr(cache, "num_gpu_blocks", None), getattr(cache, "block_size", None)
        self.runner.kv_capacity = int(blocks * block_size) if blocks and block_size else 0

        template = self.tokenizer.chat_template or ""
        if isinstance(template, dict):  # some tokenizers carry several named templates
            template = template.get("default") or next(iter(template.values()), "")
        self.bos_token = self.tokenizer.bos_token or ""
        self.eos_token = self.tokenizer.eos_token or ""
        model_config = self.engine.model_config
        dtype_name = str(model_config.dtype).removeprefix("torch.")
        import vllm

        self.info = ModelInfo(
            name=name,
            path=str(path),
            backend="vllm",
            context_length=self.context,
            architecture=str(getattr(text_config, "model_type", "") or ""),
            vocab_size=self.vocab.n_vocab,
            parameter_count=_parameter_count(path),
            quantization=_DTYPE_LABELS.get(dtype_name, dtype_name),
            file_format="safetensors",
            chat_template=template,
            extra={
                "context_length_train": trained,
                "parallel": settings.parallel,
                "device": "cpu" if cpu else "cuda",
                "dtype": dtype_name,
                "vllm": getattr(vllm, "__version__", ""),
                "tensor_parallel_size": settings.tensor_parallel_size,
                "pipeline_parallel_size": settings.pipeline_parallel_size,
                "data_parallel_size": settings.data_parallel_size,
                "kv_cache_tokens": self.runner.kv_capacity,
                "architectures": list(getattr(config, "architectures", None) or []),
            },
            sampling_defaults=sampling_defaults.from_generation_config(generation),
        )

    # -- the event loop thread -------------------------------------------------------------------

    def _serve_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro: Any, *, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    async def _start_engine(self, args: Any) -> Any:
        from vllm.v1.engine.async_llm import AsyncLLM

        return AsyncLLM.from_engine_args(args, stat_loggers=[_stat_logger(self._stats_target)])

    def _request(self, job: BackendJob) -> tuple[Any, Any]:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        kwargs = sampling_kwargs(job, stop_token_ids=self.vocab.eos_ids)
        grammar = grammar_for(job)
        if grammar is not None:
            kwargs["structured_outputs"] = StructuredOutputsParams(grammar=grammar)
        params = SamplingParams(**kwargs, output_kind=RequestOutputKind.DELTA)
        return TokensPrompt(prompt_token_ids=list(job.prompt_tokens)), params

    def _stop_loop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    # -- the Backend API -------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = True) -> list[int]:
        encoded = self.tokenizer(text, add_special_tokens=add_special, split_special_tokens=not parse_special)
        return list(encoded["input_ids"])

    def token_bytes(self, token: int) -> bytes:
        return self.vocab.rendered(token)

    def fim_tokens(self) -> tuple[int, int, int] | None:
        return self.vocab.fim_tokens()

    def check_constraint(self, constraint: Constraint) -> None:
        # Compiled by our llguidance path, so a bad schema is the same 400 as on the other backends;
        # vLLM compiles the same text again with the same library when the job starts.
        self.vocab.constraints.check(constraint)

    def submit(self, job: BackendJob) -> None:
        self.runner.submit(job)

    def cancel(self, job: BackendJob) -> None:
        self.runner.cancel(job)

    def load_stats(self) -> LoadStats:
        return self.runner.stats()

    def close(self) -> None:
        try:
            self._call(self.runner.drain(), timeout=30)
        except Exception:  # closing goes on whatever a job did
            log.exception("could not end the running requests")
        try:
            # On the loop: shutdown cancels vLLM's output-handler task, which only its own loop may do
            # (called from another thread, that task saw the engine core die first and logged an error).
            self._call(self._shutdown(), timeout=60)
        except Exception:  # vLLM's own shutdown failing must not keep ours from finishing
            log.exception("vLLM did not shut down cleanly")
        self._stop_loop()

    async def _shutdown(self) -> None:
        self.engine.shutdown()


class _Configs:
    """What `Vocabulary` reads from a model, for a backend that holds no model object."""

    def __init__(self, config: Any, generation: Any) -> None:
        self.config = config
        self.generation_config = generation


def _stat_logger(targets: list[JobRunner]) -> Any:
    """A vLLM per-engine stat logger factory that keeps the KV cache usage for `load_stats`.

    vLLM calls `record` after every engine step with its scheduler's stats; the last one is all we keep
    (running and waiting counts come from our own bookkeeping, which is exact between steps too)."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class LazarusStats(StatLoggerBase):  # type: ignore[misc]  # vLLM is not type-checked here
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.engine_index = engine_index

        def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                   engine_idx: int = 0) -> None:  # fmt: skip
            if scheduler_stats is not None:
                for runner in targets:
                    runner.kv_usage = float(scheduler_stats.kv_cache_usage)

        def log_engine_initialized(self) -> None:
            pass

    return LazarusStats


def _classify(exc: Exception) -> Exception:
    """vLLM's error for a job as ours: a request vLLM refuses is a 400, anything else a 500."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"VLLMValidationError", "VLLMClientError", "ValueError"}:
        return InvalidRequest(f"vLLM refused the request: {_one_line(exc)}")
    if isinstance(exc, (InvalidRequest, GenerationFailed)):
        return exc
    return GenerationFailed(f"generation failed: {_one_line(exc)}")


def _parameter_count(folder: Path) -> int:
    """Parameters in the folder's safetensors files, read from their headers (no weights loaded)."""
    import json
    import struct

    total = 0
    for file in folder.glob("*.safetensors"):
        try:
            with file.open("rb") as handle:
                (size,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(size))
        except (OSError, ValueError, struct.error):
            continue
        for key, entry in header.items():
            if key != "__metadata__" and isinstance(entry, dict):
                count = 1
                for dim in entry.get("shape", []):
                    count *= int(dim)
                total += count
    return total


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
