"""Every `lazarus serve` setting in one place. Flags override `LAZARUS_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAZARUS_", extra="ignore")

    model: str | None = Field(None, description="HF id (org/name or org/name:QUANT), local folder or .gguf file; "
                              "default: the embedded SmolLM2-135M-Instruct")  # fmt: skip
    host: str = Field("127.0.0.1", description="bind address (0.0.0.0 exposes the server to the network)")
    port: int = Field(8080, ge=0, le=65535, description="port")
    protocols: str = Field("openai", description="comma-separated: openai, ollama, anthropic")
    api_key: str | None = Field(None, description="require this key (Authorization: Bearer <key>) on every "
                                "request except /health; env LAZARUS_API_KEY")  # fmt: skip
    max_tokens: int = Field(512, ge=1, description="default max_tokens when callers do not specify one")
    served_model_name: str | None = Field(None, description="the name clients use for the model (alias)")
    backend: str = Field("auto", description="auto, llama.cpp or transformers")
    ctx_size: int | None = Field(None, ge=16, description="context length per sequence "
                                 "(default: the model's, capped at 4096)")  # fmt: skip
    parallel: int = Field(4, ge=1, le=256, description="sequences decoded together (continuous batching)")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: all cores)")
    batch_size: int = Field(512, ge=1, description="tokens per decode step")
    max_queue: int = Field(64, ge=0, description="requests that may wait for a free sequence; "
                           "past it new requests are refused with 503/529")  # fmt: skip
    tool_parser: str | None = Field(None, description="tool-call format: hermes, llama3_json, mistral, pythonic "
                                    "or json (default: detected from the chat template)")  # fmt: skip
    device: str = Field("auto", description="transformers backend: auto, cpu, cuda[:N] or mps")
    dtype: str = Field("auto", description="transformers backend: auto, float32, float16 or bfloat16")
    trust_remote_code: bool = Field(False, description="transformers backend: run code shipped in the model repo")
    allow_pickle: bool = Field(False, description="transformers backend: load .bin/.pt (pickle) checkpoints")
    max_body_mb: float = Field(16.0, gt=0, description="largest request body accepted, in MiB")
    log_level: str = Field("info", description="debug, info, warning or error")
