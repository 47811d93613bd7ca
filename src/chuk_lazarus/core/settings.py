"""How a model is loaded and run: the one definition of every model knob.

`lazarus serve` builds its flags and `LAZARUS_*` variables from these fields (see `cli.py`), the
engine hands the whole object to the backend the registry picks, and each backend reads the fields it
uses under these same names. A knob has one name from the command line to the sampler.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

ReasoningParser = Literal["auto", "think_tags", "mistral", "harmony", "none"]
BackendName = Literal["auto", "llama.cpp", "transformers", "vllm"]
ExecutorBackend = Literal["mp", "ray"]
DType = Literal["auto", "float32", "float16", "bfloat16"]

# The default context per sequence when the model's own is longer (or unknown).
DEFAULT_CTX_CAP = 4096


class ModelSettings(BaseModel):
    """Every field has a sensible default; `ModelEngine.load(model, parallel=8)` overrides one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: BackendName = Field("auto", description="which engine runs the model: auto picks llama.cpp for "
                                 "GGUF files, transformers for Hugging Face folders; vllm runs Hugging Face "
                                 "folders on vLLM (the vllm extra)")  # fmt: skip
    ctx_size: int | None = Field(None, ge=16, description="context length per sequence "
                                 f"(default: the model's, capped at {DEFAULT_CTX_CAP})",
                                 json_schema_extra={"short": "-c"})  # fmt: skip
    parallel: int = Field(4, ge=1, le=256, description="sequences decoded together (continuous batching)",
                          json_schema_extra={"short": "-np"})  # fmt: skip
    threads: int | None = Field(None, ge=1, description="CPU threads (default: all cores)",
                                json_schema_extra={"short": "-t"})  # fmt: skip
    batch_size: int = Field(512, ge=1, description="tokens per decode step; long prompts are prefilled "
                            "in chunks of this size", json_schema_extra={"short": "-b"})  # fmt: skip
    max_queue: int = Field(64, ge=0, description="requests that may wait for a free sequence; past it "
                           "new requests are refused at once (503/529 with Retry-After)")  # fmt: skip
    cache_ram: int = Field(2048, ge=0, description="llama.cpp backend: MiB of host RAM for prompt states "
                           "evicted from the slots, restored when a prompt comes back (0: off)",
                           json_schema_extra={"metavar": "MIB"})  # fmt: skip
    cache_dir: str | None = Field(None, description="llama.cpp backend: also keep prompt states in this "
                                  "folder, so they survive a restart (default: off)",
                                  json_schema_extra={"metavar": "DIR"})  # fmt: skip
    cache_disk: int = Field(8192, ge=1, description="llama.cpp backend: MiB the --cache-dir tier may use",
                            json_schema_extra={"metavar": "MIB"})  # fmt: skip
    draft_max: int = Field(8, ge=0, le=64, description="llama.cpp backend: speculative decoding by prompt "
                           "lookup: at most N tokens guessed from the sequence's own text and verified in "
                           "one decode, as many as the measured decode cost says pay (0: off; output is "
                           "unchanged either way)",
                           json_schema_extra={"metavar": "N"})  # fmt: skip
    draft_ngram: int = Field(3, ge=1, le=16, description="llama.cpp backend: how many trailing tokens must "
                             "match earlier text before it is used as a draft", json_schema_extra={"metavar": "N"})  # fmt: skip
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="sampling default for requests "
                                      "that leave temperature out (default: the model's own, else the "
                                      "protocol's)", json_schema_extra={"metavar": "T"})  # fmt: skip
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="sampling default for requests that leave "
                                "top_p out (default: the model's own, else the protocol's)",
                                json_schema_extra={"metavar": "P"})  # fmt: skip
    top_k: int | None = Field(None, ge=0, description="sampling default for requests that leave top_k out; 0 "
                              "is off (default: the model's own, else the protocol's)",
                              json_schema_extra={"metavar": "K"})  # fmt: skip
    min_p: float | None = Field(None, ge=0.0, le=1.0, description="sampling default for requests that leave "
                                "min_p out (default: the model's own, else the protocol's)",
                                json_schema_extra={"metavar": "P"})  # fmt: skip
    repeat_penalty: float | None = Field(None, gt=0.0, description="sampling default for requests that leave "
                                         "the repeat penalty out (default: the model's own, else the "
                                         "protocol's)", json_schema_extra={"metavar": "X"})  # fmt: skip
    tool_parser: str | None = Field(None, description="tool-call format: hermes, llama3_json, mistral, "
                                    "pythonic or json (default: detected from the chat template)",
                                    json_schema_extra={"metavar": "NAME"})  # fmt: skip
    reasoning_parser: ReasoningParser = Field("auto", description="reasoning format: auto (detected from "
                                              "the chat template), think_tags (<think>…</think>), mistral "
                                              "([THINK]…[/THINK]), harmony (gpt-oss channels) or none")  # fmt: skip
    reasoning_budget: int | None = Field(None, ge=0, description="thinking budget of requests that give "
                                         "none: the reasoning is closed after N tokens and the model "
                                         "answers; 0: no reasoning (default: unbounded)",
                                         json_schema_extra={"metavar": "N"})  # fmt: skip
    tensor_parallel_size: int = Field(1, ge=1, description="vllm backend: GPUs each layer is split across "
                                      "(tensor parallel)", json_schema_extra={"metavar": "N"})  # fmt: skip
    pipeline_parallel_size: int = Field(1, ge=1, description="vllm backend: stages the layers are split into "
                                        "(pipeline parallel, across GPUs or nodes)", json_schema_extra={"metavar": "N"})  # fmt: skip
    data_parallel_size: int = Field(1, ge=1, description="vllm backend: model replicas inside this server, "
                                    "balanced by vLLM (data parallel)", json_schema_extra={"metavar": "N"})  # fmt: skip
    distributed_executor_backend: ExecutorBackend | None = Field(None, description="vllm backend: how workers "
                                    "run: mp (processes on this node) or ray (a Ray cluster, for several nodes) "
                                    "(default: vLLM's choice)", json_schema_extra={"metavar": "{mp,ray}"})  # fmt: skip
    gpu_memory_utilization: float | None = Field(None, gt=0.0, le=1.0, description="vllm backend: fraction of "
                                                 "each GPU's memory vLLM may take for weights and KV cache "
                                                 "(default: vLLM's, 0.9)", json_schema_extra={"metavar": "F"})  # fmt: skip
    engine_arg: list[str] | None = Field(None, description="vllm backend: any other vLLM engine argument, "
                                         "KEY=VALUE (repeat the flag, or separate with commas; VALUE is JSON "
                                         "when it parses as JSON; an unknown KEY is refused) (default: none)",
                                         json_schema_extra={"metavar": "KEY=VALUE", "repeat": True})  # fmt: skip
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
                        description="transformers backend: auto, cpu, cuda[:N] or mps")  # fmt: skip
    dtype: DType = Field("auto", description="transformers and vllm backends: auto (float32 on "
                         "CPU), float32, float16 or bfloat16")  # fmt: skip
    trust_remote_code: bool = Field(False, description="transformers and vllm backends: run Python code "
                                    "shipped inside a model repo")  # fmt: skip
    allow_pickle: bool = Field(False, description="transformers backend: load .bin/.pt checkpoints "
                               "(pickle can run code); safetensors only otherwise")  # fmt: skip

    @field_validator("reasoning_budget")
    @classmethod
    def _budget_needs_our_sampler(cls, value: int | None, info: ValidationInfo) -> int | None:
        # The budget is enforced by our sampler writing the close marker; vLLM samples on its own.
        if value is not None and info.data.get("backend") == "vllm":
            raise ValueError("the vllm backend does not enforce a thinking budget (llama.cpp and transformers do)")
        return value

    @field_validator("engine_arg", mode="before")
    @classmethod
    def _parse_engine_args(cls, value: Any) -> Any:
        # One string (LAZARUS_ENGINE_ARG, a single flag) or the repeated flag's list; each is checked
        # for KEY=VALUE form here, and the keys against vLLM's own when the server starts (cli.py).
        items = [value] if isinstance(value, str) else value
        if items is None:
            return None
        out: list[str] = []
        for item in items:
            for part in re.split(r",(?=\s*[A-Za-z_][A-Za-z0-9_-]*=)", str(item)):
                part = part.strip()
                if not part:
                    continue
                if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*=", part):
                    raise ValueError(f"{part!r} is not KEY=VALUE")
                out.append(part)
        return out or None

    def sampling_defaults(self) -> dict[str, float]:
        """The sampling defaults given as flags, by SamplingParams' names."""
        given = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                 "min_p": self.min_p, "repeat_penalty": self.repeat_penalty}  # fmt: skip
        return {k: v for k, v in given.items() if v is not None}

    def context_for(self, trained: int | None) -> int:
        """The context per sequence: `ctx_size`, else the model's trained context capped."""
        return self.ctx_size or min(trained or DEFAULT_CTX_CAP, DEFAULT_CTX_CAP)
