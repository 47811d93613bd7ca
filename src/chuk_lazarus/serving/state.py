"""What a request handler finds on `app.state`: the engine and the serving configuration.

`create_app` puts them there (never module globals), so several apps can share a process and tests
can build an app around a scripted engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ..engine.client import EngineClient

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_TOKENS = 512  # for callers that give no max_tokens
# Silence longer than this on a stream gets the protocol's keepalive frame; proxies commonly drop
# connections idle for 60 s, and a long prompt or a full queue can keep the model silent that long.
DEFAULT_KEEPALIVE_S = 10.0
# Stored Responses-API responses (for `previous_response_id`): how many, and for how long (seconds).
DEFAULT_RESPONSES_STORE_MAX = 1000
DEFAULT_RESPONSES_STORE_TTL = 24 * 3600.0


@dataclass(frozen=True)
class ServingConfig:
    protocols: tuple[str, ...]  # the protocol names served, e.g. ("openai", "ollama")
    api_key: str | None
    default_max_tokens: int
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    keepalive_s: float = DEFAULT_KEEPALIVE_S
    responses_store_max: int = DEFAULT_RESPONSES_STORE_MAX
    responses_store_ttl: float = DEFAULT_RESPONSES_STORE_TTL


def engine_of(request: Request) -> EngineClient:
    engine: EngineClient = request.app.state.engine
    return engine


def config_of(request: Request) -> ServingConfig:
    config: ServingConfig = request.app.state.config
    return config
