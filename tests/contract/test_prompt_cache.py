"""The prompt cache beyond the slots through a running `lazarus serve` (llama.cpp: the backend that has
it), seen as an OpenAI client sees it: `usage.prompt_tokens_details.cached_tokens`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.contract.server import LazarusProcess

SYSTEM = "You are a patient tutor. " + " ".join(f"Rule {i}: explain step {i} slowly." for i in range(30))
pytestmark = [
    pytest.mark.contract,
    pytest.mark.backends("llama.cpp", reason="the prompt cache beyond the slots (RAM and disk tiers) is llama.cpp's; vLLM keeps its own prefix cache"),
]


@pytest.fixture(scope="module", params=["2048", "0"], ids=["cache-on", "cache-off"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[LazarusProcess, bool]]:
    # One slot, so every other conversation evicts the first from it.
    process = LazarusProcess(["--parallel", "1", "--cache-ram", str(request.param)])
    yield process, request.param != "0"
    process.stop()


def ask(client: openai.OpenAI, system: str | None, question: str) -> tuple[int, int]:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    response = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=messages, max_tokens=4, temperature=0  # type: ignore[arg-type]
    )
    usage = response.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    return usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens or 0


def test_a_conversation_whose_slot_was_taken_comes_back_from_ram(server: tuple[LazarusProcess, bool]) -> None:
    process, cache_on = server
    client = openai.OpenAI(base_url=f"{process.base_url}/v1", api_key="unused", max_retries=0)
    prompt, cached = ask(client, SYSTEM, "What is a fraction?")
    assert cached == 0
    ask(client, None, "Name a colour.")  # takes the only slot
    prompt_again, cached_again = ask(client, SYSTEM, "What is a fraction?")
    assert prompt_again == prompt > 150
    if cache_on:
        # All of it: the logits at its end were kept too, so its first token needs no decode.
        assert cached_again == prompt
    else:
        assert cached_again < 10  # only the chat template's opening is still in the slot
    # What an operator sees: the states kept, their bytes, and the bound (/health and /metrics agree).
    load = httpx.get(f"{process.base_url}/health").json()["load"]
    metrics = {line.split("{")[0]: float(line.rsplit(" ", 1)[1])
               for line in httpx.get(f"{process.base_url}/metrics").text.splitlines()
               if line.startswith("lazarus:prompt_cache")}  # fmt: skip
    limit = 2048 * 1024 * 1024 if cache_on else 0  # the fixture's --cache-ram, in bytes
    assert metrics["lazarus:prompt_cache_limit_bytes"] == load["prompt_cache_limit_bytes"] == limit
    assert metrics["lazarus:prompt_cache_bytes"] == load["prompt_cache_bytes"]
    assert metrics["lazarus:prompt_cache_entries"] == load["prompt_cache_entries"]
    if cache_on:  # the tutor's state went to RAM when "Name a colour." took the slot
        assert load["prompt_cache_entries"] >= 1 and 0 < load["prompt_cache_bytes"] <= limit
    else:
        assert load["prompt_cache_entries"] == load["prompt_cache_bytes"] == 0


def test_with_a_cache_dir_a_conversation_survives_a_restart(tmp_path: Path) -> None:
    args = ["--parallel", "1", "--cache-dir", str(tmp_path)]
    first = LazarusProcess(args)
    try:
        client = openai.OpenAI(base_url=f"{first.base_url}/v1", api_key="unused", max_retries=0)
        prompt, cached = ask(client, SYSTEM, "What is a fraction?")
    finally:
        assert first.stop() == 0  # SIGTERM: the slot's state is written before the process exits
    assert cached == 0 and list(tmp_path.rglob("*.kv"))
    second = LazarusProcess(args)
    try:
        client = openai.OpenAI(base_url=f"{second.base_url}/v1", api_key="unused", max_retries=0)
        assert ask(client, SYSTEM, "What is a fraction?") == (prompt, prompt - 1)
    finally:
        second.stop()
