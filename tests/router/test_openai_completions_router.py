"""`/v1/completions`, `/tokenize`, `/detokenize` and the two-SDK `/v1/models` in-process, with a scripted
engine: exact shapes, choice numbering across prompts x n, conversions and 400s naming the field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from anthropic.types import ModelInfo as AnthropicModelInfo
from openai.types import Completion

from chuk_lazarus.core.types import Finish, TextDelta, TokenLogprob, Usage
from tests.fakes import MODEL, FakeEngine, make_app


async def call(
    engine: FakeEngine, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
    protocols: tuple[str, ...] = ("openai",), **app_kwargs: Any,
) -> httpx.Response:  # fmt: skip
    transport = httpx.ASGITransport(app=make_app(engine, protocols, **app_kwargs))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, json=body, headers=headers)


def sse_payloads(response: httpx.Response) -> list[Any]:
    frames = [line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")]
    return [f if f == "[DONE]" else json.loads(f) for f in frames]


BASIC = {"model": MODEL, "prompt": "Once upon a time"}


async def test_a_string_prompt_answers_a_text_completion() -> None:
    engine = FakeEngine()
    response = await call(engine, "POST", "/v1/completions", BASIC)
    assert response.status_code == 200, response.text
    body = Completion.model_validate(response.json())
    assert body.object == "text_completion" and body.id.startswith("cmpl-")
    assert [(c.index, c.text, c.finish_reason, c.logprobs) for c in body.choices] == [(0, "Hello world", "stop", None)]
    assert body.usage is not None and (body.usage.prompt_tokens, body.usage.completion_tokens) == (5, 2)
    request = engine.requests[0]
    assert request.prompt == "Once upon a time" and request.messages == () and not request.echo
    assert request.max_tokens == 512  # the server's --max-tokens, not OpenAI's 16


async def test_batch_prompts_times_n_are_numbered_prompt_by_prompt() -> None:
    engine = FakeEngine()
    body = {**BASIC, "prompt": ["a", "b", "c"], "n": 2, "max_tokens": 3, "seed": 1}
    response = await call(engine, "POST", "/v1/completions", body)
    assert response.status_code == 200, response.text
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3, 4, 5]
    assert [(r.prompt, r.prompt_token_ids, r.n, r.max_tokens) for r in engine.requests] == [
        ("a", None, 2, 3), ("b", None, 2, 3), ("c", None, 2, 3)
    ]  # fmt: skip
    usage = response.json()["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (15, 12)  # each prompt once, every choice


async def test_a_token_prompt_and_a_list_of_token_prompts() -> None:
    engine = FakeEngine()
    assert (await call(engine, "POST", "/v1/completions", {**BASIC, "prompt": [1, 2, 3]})).status_code == 200
    assert (await call(engine, "POST", "/v1/completions", {**BASIC, "prompt": [[1], [2, 3]]})).status_code == 200
    assert [r.prompt_token_ids for r in engine.requests] == [(1, 2, 3), (1,), (2, 3)]


async def test_sampling_fields_reach_the_engine() -> None:
    engine = FakeEngine()
    body = {**BASIC, "temperature": 0.2, "top_p": 0.5, "stop": ["\n", "END"], "presence_penalty": 0.5,
            "frequency_penalty": 0.25, "logit_bias": {"7": -100}, "user": "u1", "logprobs": 2}  # fmt: skip
    assert (await call(engine, "POST", "/v1/completions", body)).status_code == 200
    r = engine.requests[0]
    assert (r.sampling.temperature, r.sampling.top_p, r.stop) == (0.2, 0.5, ("\n", "END"))
    assert (r.sampling.presence_penalty, r.sampling.frequency_penalty, r.sampling.logit_bias) == (0.5, 0.25, {7: -100})
    assert r.logprobs == 2 and r.prompt_logprobs is None  # prompt logprobs only with echo


async def test_echo_with_logprobs_and_no_tokens_asks_for_prompt_logprobs() -> None:
    echoed = TextDelta("Hi there", (TokenLogprob("Hi", None, (72, 105)), TokenLogprob(" there", -1.5, (32,), (("!", -0.5, (33,)),))))
    engine = FakeEngine(events=[echoed, Finish("length", Usage(2, 0))])
    body = {**BASIC, "prompt": "Hi there", "echo": True, "logprobs": 1, "max_tokens": 0}
    response = await call(engine, "POST", "/v1/completions", body)
    assert response.status_code == 200, response.text
    r = engine.requests[0]
    assert (r.echo, r.prompt_logprobs, r.logprobs, r.max_tokens) == (True, 1, 1, 0)
    choice = response.json()["choices"][0]
    assert choice["text"] == "Hi there" and choice["finish_reason"] == "length"
    assert choice["logprobs"] == {
        "tokens": ["Hi", " there"],
        "token_logprobs": [None, -1.5],
        "top_logprobs": [None, {"!": -0.5, " there": -1.5}],  # the chosen token is always included
        "text_offset": [0, 2],
    }


async def test_streaming_chunks_and_usage() -> None:
    engine = FakeEngine()
    body = {**BASIC, "stream": True, "n": 2, "logprobs": 0, "stream_options": {"include_usage": True}}
    engine.events = [TextDelta("Hel", (TokenLogprob("Hel", -0.1, (72,)),)), TextDelta("lo", (TokenLogprob("lo", -0.2, (108,)),)),
                     Finish("stop", Usage(5, 2))]  # fmt: skip
    response = await call(engine, "POST", "/v1/completions", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"]["completion_tokens"] == 4
    chunks = payloads[:-2]
    assert all(c["object"] == "text_completion" and c["usage"] is None for c in chunks)
    by_choice: dict[int, list[Any]] = {}
    for c in chunks:
        (choice,) = c["choices"]
        by_choice.setdefault(choice["index"], []).append(choice)
    for index in (0, 1):
        got = by_choice[index]
        assert "".join(c["text"] for c in got) == "Hello"
        assert [c["finish_reason"] for c in got] == [None, None, "stop"]
        assert got[1]["logprobs"]["text_offset"] == [3]  # offsets run on across chunks of one choice


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"best_of": 3}, "best_of"),
        ({"best_of": 1, "n": 2}, "best_of"),
        ({"logprobs": 6}, "logprobs"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["a", [1]]}, "prompt"),
        ({"prompt": [[]]}, "prompt[0]"),
        ({"suffix": "x", "echo": True}, "echo"),
        ({"suffix": "x", "prompt": [1, 2]}, "suffix"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logit_bias": {"abc": 1}}, "logit_bias"),
        ({"prompt": ["p"] * 33, "n": 2}, "prompt"),
    ],
)
async def test_bad_fields_are_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    engine = FakeEngine()
    response = await call(engine, "POST", "/v1/completions", {**BASIC, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert engine.requests == []


async def test_best_of_equal_to_n_is_accepted() -> None:
    response = await call(FakeEngine(), "POST", "/v1/completions", {**BASIC, "best_of": 2, "n": 2})
    assert response.status_code == 200 and len(response.json()["choices"]) == 2


async def test_an_unknown_model_is_a_404() -> None:
    response = await call(FakeEngine(), "POST", "/v1/completions", {**BASIC, "model": "other"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


# ---- tokenize / detokenize ---------------------------------------------------------------------


async def test_tokenize_detokenize_round_trip_and_pieces() -> None:
    engine = FakeEngine()
    tokens = (await call(engine, "POST", "/tokenize", {"content": "Hi!"})).json()["tokens"]
    assert tokens == [72, 105, 33]
    assert (await call(engine, "POST", "/tokenize", {"content": "Hi", "add_special": True})).json()["tokens"] == [1, 72, 105]
    pieces = (await call(engine, "POST", "/tokenize", {"content": "Hi", "with_pieces": True})).json()["tokens"]
    assert pieces == [{"id": 72, "piece": "H"}, {"id": 105, "piece": "i"}]
    assert (await call(engine, "POST", "/detokenize", {"tokens": tokens})).json() == {"content": "Hi!"}


async def test_tokenize_messages_counts_the_chat() -> None:
    engine = FakeEngine(prompt_tokens=9)
    body = {"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": False}
    response = await call(engine, "POST", "/tokenize", body)
    assert response.status_code == 200 and len(response.json()["tokens"]) == 9


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/tokenize", {}, "content"),
        ("/tokenize", {"content": "a", "messages": [{"role": "user", "content": "b"}]}, "content"),
        ("/detokenize", {"tokens": [999]}, "tokens"),
        ("/detokenize", {"tokens": "abc"}, "tokens"),
    ],
)
async def test_token_routes_answer_400s_in_openai_shape(path: str, body: Any, param: str) -> None:
    response = await call(FakeEngine(), "POST", path, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_token_routes_need_the_key() -> None:
    response = await call(FakeEngine(), "POST", "/tokenize", {"content": "a"}, api_key="k")
    assert response.status_code == 401 and "error" in response.json()
    ok = await call(FakeEngine(), "POST", "/tokenize", {"content": "a"}, api_key="k", headers={"Authorization": "Bearer k"})
    assert ok.status_code == 200


# ---- /v1/models for both SDKs ------------------------------------------------------------------

BOTH = ("openai", "anthropic")
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}


async def test_models_in_anthropic_shape_for_anthropic_clients() -> None:
    engine = FakeEngine(aliases=("org/alias",))
    response = await call(engine, "GET", "/v1/models", headers=ANTHROPIC_HEADERS, protocols=BOTH, api_key="k")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["has_more"], body["first_id"], body["last_id"]) == (False, MODEL, "org/alias")
    models = [AnthropicModelInfo.model_validate(m) for m in body["data"]]
    assert [(m.type, m.id, m.display_name) for m in models] == [("model", MODEL, MODEL), ("model", "org/alias", "org/alias")]
    assert models[0].created_at.year == 2025  # loaded_at 1_750_000_000, as RFC 3339
    one = await call(engine, "GET", "/v1/models/org/alias", headers=ANTHROPIC_HEADERS, protocols=BOTH, api_key="k")
    assert one.status_code == 200 and one.json()["id"] == "org/alias" and one.json()["type"] == "model"


async def test_models_keep_openai_shape_for_openai_clients() -> None:
    response = await call(FakeEngine(), "GET", "/v1/models", headers={"Authorization": "Bearer k"}, protocols=BOTH, api_key="k")
    assert response.status_code == 200 and response.json()["object"] == "list"
    assert response.json()["data"][0]["object"] == "model"


async def test_a_bare_x_api_key_gets_anthropic_shape_and_is_accepted() -> None:
    response = await call(FakeEngine(), "GET", "/v1/models", headers={"x-api-key": "k"}, protocols=BOTH, api_key="k")
    assert response.status_code == 200 and "has_more" in response.json()


async def test_x_api_key_is_accepted_on_openai_routes_when_anthropic_is_served() -> None:
    response = await call(FakeEngine(), "POST", "/v1/completions", BASIC, headers={"x-api-key": "k"}, protocols=BOTH, api_key="k")
    assert response.status_code == 200, response.text
    only_openai = await call(FakeEngine(), "POST", "/v1/completions", BASIC, headers={"x-api-key": "k"}, api_key="k")
    assert only_openai.status_code == 401


async def test_errors_take_the_shape_of_the_client_that_asked() -> None:
    engine = FakeEngine()
    wrong_key = await call(engine, "GET", "/v1/models", headers={**ANTHROPIC_HEADERS, "x-api-key": "bad"}, protocols=BOTH, api_key="k")
    assert wrong_key.status_code == 401 and wrong_key.json()["type"] == "error"
    assert wrong_key.json()["error"]["type"] == "authentication_error"
    missing = await call(engine, "GET", "/v1/models/nope", headers=ANTHROPIC_HEADERS, protocols=BOTH)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    openai_missing = await call(engine, "GET", "/v1/models/nope", protocols=BOTH)
    assert openai_missing.status_code == 404 and openai_missing.json()["error"]["code"] == "model_not_found"
