"""The README's first chat curl, pasted as it is, against `lazarus serve` as the README starts it (no
flags): the embedded model's own sampling default (greedy) makes it name Paris."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract
README = Path(__file__).resolve().parents[2] / "README.md"


def first_chat_curl() -> tuple[str, dict[str, object]]:
    """The path and JSON body of the README's first `curl … /v1/chat/completions -d '…'`."""
    text = README.read_text(encoding="utf-8")
    found = re.search(r"curl (http://localhost:8080(/v1/chat/completions))[^']*?-d '(\{.*?\})'", text, re.DOTALL)
    assert found, "the README has no chat curl"
    return found.group(2), json.loads(found.group(3))


@pytest.fixture(scope="module")
def server() -> Iterator[LazarusProcess]:
    process = LazarusProcess()
    yield process
    process.stop()


def test_the_readme_first_curl_answers_paris(server: LazarusProcess) -> None:
    path, body = first_chat_curl()
    assert "temperature" not in body  # the README's body leaves sampling to the server
    response = httpx.post(server.base_url + path, json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert "Paris" in response.json()["choices"][0]["message"]["content"]


def test_show_lists_the_sampling_defaults_in_force() -> None:
    process = LazarusProcess(["--protocols", "ollama", "--top-k", "7"])
    try:
        shown = httpx.post(f"{process.base_url}/api/show", json={"model": "smollm2-135m-instruct"}, timeout=30)
    finally:
        process.stop()
    lines = dict(line.split(None, 1) for line in shown.json()["parameters"].splitlines())
    assert lines["temperature"] == "0" and lines["top_k"] == "7"
