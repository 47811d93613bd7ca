"""Bad input to a real server: OpenAI's error envelope, the right status, and the server keeps serving."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def http(lazarus_openai_server: LazarusProcess) -> httpx.Client:
    with httpx.Client(base_url=lazarus_openai_server.base_url, timeout=60) as client:
        yield client  # type: ignore[misc]


@pytest.fixture(scope="module")
def model(http: httpx.Client) -> str:
    return str(http.get("/v1/models").json()["data"][0]["id"])


def assert_openai_error(response: httpx.Response, status: int, *, param: str | None = None,
                        code: str | None = None) -> dict[str, Any]:  # fmt: skip
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def chat(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/v1/chat/completions", json=body)


def test_malformed_json(http: httpx.Client) -> None:
    r = http.post("/v1/chat/completions", content=b'{"model": "x", "messages": [', headers={"content-type": "application/json"})
    assert_openai_error(r, 400)


def test_body_that_is_not_an_object(http: httpx.Client) -> None:
    assert_openai_error(http.post("/v1/chat/completions", json=[1, 2, 3]), 400)
    assert_openai_error(http.post("/v1/chat/completions", json="hello"), 400)


def test_missing_messages(http: httpx.Client, model: str) -> None:
    assert_openai_error(chat(http, model=model), 400, param="messages")


def test_empty_messages(http: httpx.Client, model: str) -> None:
    assert_openai_error(chat(http, model=model, messages=[]), 400, param="messages")


def test_unknown_role(http: httpx.Client, model: str) -> None:
    assert_openai_error(chat(http, model=model, messages=[{"role": "wizard", "content": "hi"}]), 400)


@pytest.mark.parametrize(
    "field,value",
    [("messages", "hello"), ("temperature", "hot"), ("max_tokens", "many"), ("stream", {"yes": 1}), ("n", 1.5)],
)
def test_wrong_types(http: httpx.Client, model: str, field: str, value: Any) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], field: value}
    error = assert_openai_error(http.post("/v1/chat/completions", json=body), 400)
    assert field in (error["param"] or "")


@pytest.mark.parametrize("temperature", [-0.1, 2.5])
def test_temperature_outside_range(http: httpx.Client, model: str, temperature: float) -> None:
    r = chat(http, model=model, messages=[{"role": "user", "content": "hi"}], temperature=temperature)
    assert_openai_error(r, 400, param="temperature")


@pytest.mark.parametrize("value", [0, -5])
def test_max_tokens_not_positive(http: httpx.Client, model: str, value: int) -> None:
    r = chat(http, model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=value)
    assert_openai_error(r, 400, param="max_tokens")


def test_n_above_the_cap(http: httpx.Client, model: str) -> None:
    assert_openai_error(chat(http, model=model, messages=[{"role": "user", "content": "hi"}], n=64), 400, param="n")


def test_more_than_four_stop_strings(http: httpx.Client, model: str) -> None:
    r = chat(http, model=model, messages=[{"role": "user", "content": "hi"}], stop=["a", "b", "c", "d", "e"])
    assert_openai_error(r, 400, param="stop")


def test_prompt_longer_than_the_context(http: httpx.Client, model: str) -> None:
    huge = "lorem ipsum dolor " * 3000  # ~9k tokens, over the 4096-token context
    r = chat(http, model=model, messages=[{"role": "user", "content": huge}])
    error = assert_openai_error(r, 400, code="context_length_exceeded")
    assert "context length" in error["message"]


def test_body_over_the_size_limit(http: httpx.Client, model: str) -> None:
    big = "x" * (17 * 1024 * 1024)
    r = chat(http, model=model, messages=[{"role": "user", "content": big}])
    assert_openai_error(r, 413)


def test_image_content_on_a_text_only_model(http: httpx.Client, model: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    r = chat(http, model=model, messages=[{"role": "user", "content": content}])
    assert_openai_error(r, 400)


def test_unknown_route(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/nothing-here"), 404)


def test_wrong_method(http: httpx.Client) -> None:
    assert_openai_error(http.get("/v1/chat/completions"), 405)


def test_server_keeps_serving_after_bad_input(http: httpx.Client, model: str) -> None:
    chat(http, model=model, messages=[])
    http.post("/v1/chat/completions", content=b"{{{{")
    r = chat(http, model=model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, temperature=0)
    assert r.status_code == 200
    assert r.json()["usage"]["completion_tokens"] >= 1
    assert http.get("/health").json()["status"] == "ok"
