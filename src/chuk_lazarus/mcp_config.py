"""`lazarus mcp-config`: the chuk-llm provider entry (what `mcp-cli chat --provider lazarus` reads) for
the model a `lazarus serve` with the same options serves. Nothing is loaded or downloaded.

chuk-llm reads providers from one YAML file (`CHUK_LLM_CONFIG`, else `./chuk_llm.yaml`, …,
`~/.chuk_llm/config.yaml`, else its packaged `chuk_llm.yaml`), a mapping of provider name to
`client_class`, `api_base`, `api_key_env`, `default_model`, `models`, `features`. The entry uses
chuk-llm's OpenAI client against our `/v1`. Its key comes from `LAZARUS_API_KEY`, the variable that
also sets `lazarus serve --api-key`; chuk-llm refuses a provider whose key variable is unset, so
without `--api-key` on the server set it to any non-empty value.
"""

from __future__ import annotations

import json
from typing import Any

PROVIDER = "lazarus"
CLIENT_CLASS = "chuk_llm.llm.providers.openai_client:OpenAILLMClient"
API_KEY_ENV = "LAZARUS_API_KEY"
FEATURES = ("text", "streaming", "tools", "json_mode", "system_messages")


def connect_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (a wildcard is not an address)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def provider_entry(*, model: str, host: str, port: int) -> dict[str, Any]:
    return {
        "client_class": CLIENT_CLASS,
        "api_base": f"http://{connect_host(host)}:{port}/v1",
        "api_key_env": API_KEY_ENV,
        "default_model": model,
        "models": [model],
        "features": list(FEATURES),
    }


def provider_yaml(entry: dict[str, Any], name: str = PROVIDER) -> str:
    """The entry as chuk-llm YAML. Values are written as JSON (which YAML reads as it is), so no
    YAML library is needed and every model name is quoted safely."""
    lines = [
        f"# chuk-llm provider for lazarus serve; use with: mcp-cli chat --provider {name}",
        f"# (the key is read from ${API_KEY_ENV}; any non-empty value when the server has no --api-key)",
        f"{name}:",
    ]
    lines += [f"  {key}: {json.dumps(value, ensure_ascii=False)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"
