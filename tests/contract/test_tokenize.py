"""`/tokenize` and `/detokenize` (llama-server's shapes) against a real `lazarus serve` (both backends)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API_KEY
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

TEXT = "Hello world, this is Lazarus: 42 tokens?\nYes."
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def server(lazarus_openai_server: LazarusProcess) -> LazarusProcess:
    return lazarus_openai_server


def post(server: LazarusProcess, path: str, body: object, **kwargs: object) -> httpx.Response:
    response = httpx.post(f"{server.base_url}{path}", json=body, timeout=120, **kwargs)  # type: ignore[arg-type]
    return response


def test_tokenize_then_detokenize_gives_the_text_back(server: LazarusProcess) -> None:
    response = post(server, "/tokenize", {"content": TEXT})
    assert response.status_code == 200, response.text
    tokens = response.json()["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    back = post(server, "/detokenize", {"tokens": tokens})
    assert back.status_code == 200, back.text
    assert back.json() == {"content": TEXT}


def test_with_pieces_gives_each_tokens_text(server: LazarusProcess) -> None:
    plain = post(server, "/tokenize", {"content": TEXT}).json()["tokens"]
    response = post(server, "/tokenize", {"content": TEXT, "with_pieces": True})
    assert response.status_code == 200
    items = response.json()["tokens"]
    assert [i["id"] for i in items] == plain
    assert "".join(i["piece"] for i in items) == TEXT  # plain ASCII: every piece is a string


def test_messages_count_equals_the_chat_endpoints_prompt_tokens(server: LazarusProcess) -> None:
    model = httpx.get(f"{server.base_url}/v1/models", timeout=30).json()["data"][0]["id"]
    chat = post(server, "/v1/chat/completions", {"model": model, "messages": CHAT, "max_tokens": 1})
    assert chat.status_code == 200, chat.text
    counted = post(server, "/tokenize", {"messages": CHAT})
    assert counted.status_code == 200, counted.text
    assert len(counted.json()["tokens"]) == chat.json()["usage"]["prompt_tokens"]
    without = post(server, "/tokenize", {"messages": CHAT, "add_generation_prompt": False})
    assert 0 < len(without.json()["tokens"]) < len(counted.json()["tokens"])


def test_bad_input_is_a_400_in_openai_shape(server: LazarusProcess) -> None:
    response = post(server, "/detokenize", {"tokens": [10**9]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tokens"
    neither = post(server, "/tokenize", {})
    assert neither.status_code == 400 and neither.json()["error"]["type"] == "invalid_request_error"


def test_the_token_routes_need_the_api_key(lazarus_auth_server: LazarusProcess) -> None:
    assert post(lazarus_auth_server, "/tokenize", {"content": "hi"}).status_code == 401
    assert post(lazarus_auth_server, "/detokenize", {"tokens": [1]}).status_code == 401
    ok = post(lazarus_auth_server, "/tokenize", {"content": "hi"}, headers={"Authorization": f"Bearer {API_KEY}"})
    assert ok.status_code == 200 and ok.json()["tokens"]
