"""What `lazarus serve` serves and how the HTTP side behaves: the server's own knobs.

How the model is loaded and run lives in `core.settings.ModelSettings`; `cli.py` builds every flag and
`LAZARUS_*` variable from the fields of both models, so a field added here is a new option at once.
`model` / `served_model_name` sit here, not in `ModelSettings`: they say *which* model to serve (the
arguments of `ModelEngine.load`), not how to run it.

Field metadata the CLI reads (`json_schema_extra`): `short` (a short flag) and `metavar`. A field whose
default is `None` says what unset means in its description, as "(default: …)".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..protocols import Protocol
from ..serving.logs import LogFormat
from ..serving.state import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_RESPONSES_STORE_MAX,
    DEFAULT_RESPONSES_STORE_TTL,
)

MIB = 1024 * 1024

LogLevel = Literal["debug", "info", "warning", "error"]


class ServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(
        None,
        description="a .gguf file, a folder, a Hugging Face id org/name, or org/name:QUANT to pick one GGUF "
        "in a repo (default: embedded SmolLM2-135M-Instruct)",
        json_schema_extra={"short": "-m", "metavar": "MODEL"},
    )
    served_model_name: str | None = Field(
        None,
        description="the name clients use in `model`; the original name stays accepted as an alias "
        "(default: the model's name)",
        json_schema_extra={"metavar": "NAME"},
    )
    host: str = Field("127.0.0.1", description="bind address (0.0.0.0 exposes the server to the network)")
    port: int = Field(8080, ge=0, le=65535, description="port",
                      json_schema_extra={"short": "-p", "metavar": "PORT"})  # fmt: skip
    protocols: list[Protocol] = Field(
        [Protocol.OPENAI],
        min_length=1,
        description="comma-separated: openai, ollama, anthropic",
        json_schema_extra={"metavar": "LIST"},
    )
    api_key: str | None = Field(
        None,
        description="require this key (Authorization: Bearer <key>) on every request except GET /health "
        "and GET /ready (default: none)",
        json_schema_extra={"metavar": "KEY"},
    )
    max_tokens: int = Field(DEFAULT_MAX_TOKENS, ge=1, description="default max_tokens when a caller does not give one")
    max_body_mb: float = Field(DEFAULT_MAX_BODY_BYTES / MIB, gt=0, description="largest request body accepted, in MiB (413 beyond)",
                               json_schema_extra={"metavar": "MIB"})  # fmt: skip
    responses_store_max: int = Field(DEFAULT_RESPONSES_STORE_MAX, ge=0,
                                     description="responses kept in memory for previous_response_id and "
                                     "GET /v1/responses/{id} (least recently used dropped first; 0 keeps none)",
                                     json_schema_extra={"metavar": "N"})  # fmt: skip
    responses_store_ttl: float = Field(DEFAULT_RESPONSES_STORE_TTL, gt=0,
                                       description="seconds a stored response is kept after it was created",
                                       json_schema_extra={"metavar": "SECONDS"})  # fmt: skip
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header names answered besides loopback ones while bound to a loopback address "
        "(comma-separated; * answers any; other names get 403, against DNS rebinding) (default: none)",
        json_schema_extra={"metavar": "LIST"},
    )
    cors_origins: list[str] | None = Field(
        None,
        description="browser origins allowed to call the API cross-origin (comma-separated; * for any; "
        "without it, no CORS headers) (default: none)",
        json_schema_extra={"metavar": "LIST"},
    )
    header_timeout: float = Field(10.0, gt=0, description="seconds a connection may take to send a request's "
                                  "line and headers (a bare 408 and close beyond)", json_schema_extra={"metavar": "S"})  # fmt: skip
    body_timeout: float = Field(DEFAULT_BODY_TIMEOUT_S, gt=0, description="seconds a request body may take "
                                "to arrive after its headers (408 beyond)", json_schema_extra={"metavar": "S"})  # fmt: skip
    max_connections: int = Field(512, ge=1, description="open connections plus requests in progress at once; "
                                 "beyond, new connections get a plain 503", json_schema_extra={"metavar": "N"})  # fmt: skip
    keep_alive_timeout: int = Field(5, ge=1, description="seconds an idle keep-alive connection stays open",
                                      json_schema_extra={"metavar": "S"})  # fmt: skip
    log_level: LogLevel = Field("info", description="log verbosity")
    log_format: LogFormat = Field("text", description="log lines as text, or one JSON object per line "
                                  "(one access line per request either way)")  # fmt: skip
    no_metrics: bool = Field(False, description="do not serve GET /metrics (Prometheus text)")
    metrics_public: bool = Field(False, description="serve GET /metrics without the API key (for scrapers "
                                 "that have none); /health and /ready never need it")  # fmt: skip

    @field_validator("protocols", mode="before")
    @classmethod
    def _parse_protocols(cls, value: Any) -> Any:
        # The CLI and LAZARUS_PROTOCOLS give one comma-separated string; programmatic callers a list.
        if isinstance(value, str):
            return Protocol.parse_list(value)
        return value

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        # `LAZARUS_LOG_LEVEL=INFO` is how most tools spell it; the old CLI accepted any case too.
        return value.lower() if isinstance(value, str) else value

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MIB)
