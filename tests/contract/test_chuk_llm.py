"""chuk-llm (what mcp-cli runs on) configured with the entry `lazarus mcp-config` prints, against a real
`lazarus serve --api-key …`: a chat and a tool call through chuk-llm's own OpenAI client (both backends)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, Serve
from tests.contract.server import LazarusProcess

pytest.importorskip("chuk_llm", reason="chuk-llm (the dev extra) is not installed")

pytestmark = pytest.mark.contract

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--api-key", API_KEY, "--parallel", "1")
    yield process
    process.stop()


@pytest.fixture
def chuk_client(server: LazarusProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """chuk-llm's client for provider 'lazarus', from the YAML `lazarus mcp-config` wrote."""
    from chuk_llm.configuration.unified_config import reset_config
    from chuk_llm.llm.client import get_client

    printed = subprocess.run(
        [sys.executable, "-m", "chuk_lazarus.cli", "mcp-config", "--port", str(server.port)],
        capture_output=True, text=True, check=True, env=os.environ.copy(), timeout=60,
    )  # fmt: skip
    config = tmp_path / "chuk_llm.yaml"
    config.write_text(printed.stdout)
    monkeypatch.setenv("CHUK_LLM_CONFIG", str(config))
    monkeypatch.setenv("LAZARUS_API_KEY", API_KEY)
    reset_config()
    try:
        yield get_client("lazarus", use_cache=False)
    finally:
        reset_config()


def test_the_entry_names_the_served_model_and_our_v1(server: LazarusProcess, chuk_client: Any) -> None:
    assert chuk_client.api_base == f"http://127.0.0.1:{server.port}/v1"
    assert chuk_client.model  # the served name, from `default_model`


async def test_chuk_llm_completes_a_chat(chuk_client: Any) -> None:
    result = await chuk_client.create_completion(
        [{"role": "user", "content": "What is the capital of France?"}], max_tokens=6
    )
    assert isinstance(result.get("response"), str) and result["response"].strip()
    assert not result.get("error"), result


async def test_chuk_llm_makes_a_tool_call(chuk_client: Any) -> None:
    result = await chuk_client.create_completion(
        [{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=40,
    )
    assert not result.get("error"), result
    (call,) = result["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"].startswith("{") and "city" in call["function"]["arguments"]
