"""OpenAI router in-process with a scripted engine: exact frames, conversions and error mapping."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from chuk_lazarus.core.errors import ContextLengthExceeded, GenerationFailed, Overloaded
from chuk_lazarus.core.types import TextDelta
from tests.fakes import MODEL, FakeEngine, make_app, text_events, tool_call_events


async def post(engine: FakeEngine, body: Any, **app_kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(engine, **app_kwargs))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/v1/chat/completions", json=body)


def sse_payloads(response: httpx.Response) -> list[Any]:
    frames = [line[len("data: "):] for line in response.text.split("\n\n") if line.startswith("data: ")]
    return [f if f == "[DONE]" else json.loads(f) for f in frames]


BASIC = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


async def test_non_streaming_response_matches_the_sdk_types() -> None:
    response = await post(FakeEngine(), BASIC)
    assert response.status_code == 200
    body = ChatCompletion.model_validate(response.json())
    assert body.choices[0].message.content == "Hello world"
    assert body.choices[0].finish_reason == "stop"
    assert body.usage is not None and (body.usage.prompt_tokens, body.usage.completion_tokens) == (5, 2)


async def test_streaming_frames_exactly() -> None:
    response = await post(FakeEngine(), {**BASIC, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(p) for p in payloads[:-1]]
    deltas = [(c.choices[0].delta.role, c.choices[0].delta.content, c.choices[0].finish_reason) for c in chunks]
    assert deltas == [("assistant", "", None), (None, "Hello", None), (None, " world", None), (None, None, "stop")]
    assert payloads[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert payloads[-2]["choices"][0]["delta"] == {}
    assert "usage" not in payloads[0]


async def test_include_usage_adds_a_final_usage_chunk_and_null_before() -> None:
    response = await post(FakeEngine(), {**BASIC, "stream": True, "stream_options": {"include_usage": True}})
    payloads = sse_payloads(response)
    assert all(p["usage"] is None for p in payloads[:-2])
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"]["total_tokens"] == 7


async def test_conversion_to_the_engine_request() -> None:
    engine = FakeEngine()
    body = {
        **BASIC,
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
            {"role": "user", "content": "hi"},
        ],
        "temperature": 0.3, "top_p": 0.5, "seed": 9, "stop": "END", "presence_penalty": 1.0,
        "logit_bias": {"42": -100}, "max_completion_tokens": 17, "logprobs": True, "top_logprobs": 2,
    }  # fmt: skip
    assert (await post(engine, body)).status_code == 200
    request = engine.requests[0]
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == "be brief"
    assert (request.sampling.temperature, request.sampling.top_p, request.sampling.seed) == (0.3, 0.5, 9)
    assert request.sampling.logit_bias == {42: -100.0} and request.sampling.presence_penalty == 1.0
    assert request.stop == ("END",) and request.max_tokens == 17 and request.logprobs == 2


async def test_default_max_tokens_comes_from_the_app() -> None:
    engine = FakeEngine()
    await post(engine, BASIC, default_max_tokens=77)
    assert engine.requests[0].max_tokens == 77


async def test_n_is_one_request_for_the_engine() -> None:
    engine = FakeEngine()
    response = await post(engine, {**BASIC, "n": 3, "seed": 10})
    assert [c["index"] for c in response.json()["choices"]] == [0, 1, 2]
    # Planned once: the engine gets n and the seed; choice i samples with seed + i (tests/engine).
    assert [(r.n, r.sampling.seed) for r in engine.requests] == [(3, 10)]
    assert response.json()["usage"] == {**response.json()["usage"], "prompt_tokens": 5, "completion_tokens": 6}


async def test_tool_calls_non_streaming_and_streaming() -> None:
    fragments = ['{"city": ', '"Paris"}']
    response = await post(FakeEngine(events=tool_call_events("weather", fragments)), BASIC)
    message = response.json()["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_test1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    ]
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"
    streamed = await post(FakeEngine(events=tool_call_events("weather", fragments)), {**BASIC, "stream": True})
    payloads = sse_payloads(streamed)
    for p in payloads[:-1]:
        ChatCompletionChunk.model_validate(p)
    calls = [p["choices"][0]["delta"]["tool_calls"][0] for p in payloads[1:-2]]
    assert calls[0] == {"index": 0, "id": "call_test1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    assert "".join(c["function"]["arguments"] for c in calls) == '{"city": "Paris"}'
    assert payloads[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    "error,status,code",
    [
        (ContextLengthExceeded("too long", param="messages"), 400, "context_length_exceeded"),
        (Overloaded("busy", retry_after=3), 503, "overloaded"),
        (GenerationFailed("boom"), 500, None),
    ],
)
async def test_engine_errors_map_to_openai_statuses(error: Exception, status: int, code: str | None) -> None:
    response = await post(FakeEngine(start_error=error), {**BASIC, "stream": True})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if isinstance(error, Overloaded):
        assert response.headers["retry-after"] == "3"


async def test_error_after_the_stream_began_is_an_error_frame() -> None:
    engine = FakeEngine(events=[TextDelta("partial")], mid_stream_error=GenerationFailed("backend died"))
    response = await post(engine, {**BASIC, "stream": True})
    assert response.status_code == 200
    payloads = sse_payloads(response)
    assert payloads[1]["choices"][0]["delta"]["content"] == "partial"
    assert payloads[-2]["error"] == {"message": "backend died", "type": "server_error", "param": None, "code": None}
    assert payloads[-1] == "[DONE]"  # the stream still ends the way OpenAI clients wait for


async def test_unknown_model_is_404_and_names_the_served_model() -> None:
    response = await post(FakeEngine(), {**BASIC, "model": "gpt-5"})
    assert response.status_code == 404
    assert MODEL in response.json()["error"]["message"] and response.json()["error"]["param"] == "model"


async def test_auth_is_required_except_for_health() -> None:
    app = make_app(FakeEngine(), api_key="k")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health")).status_code == 200
        refused = await client.get("/v1/models")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        assert (await client.get("/v1/models", headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await client.get("/v1/models", headers={"Authorization": "Bearer k"})).status_code == 200
        # The unauthenticated caller learns nothing about routes either.
        assert (await client.post("/v1/chat/completions", json=BASIC)).status_code == 401


async def test_tool_message_content_and_assistant_calls_reach_the_engine() -> None:
    engine = FakeEngine()
    messages = [
        {"role": "user", "content": "time?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a1", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a1", "content": "14:32 UTC"},
    ]  # fmt: skip
    assert (await post(engine, {**BASIC, "messages": messages})).status_code == 200
    assistant, tool = engine.requests[0].messages[1:]
    assert assistant.tool_calls[0].id == "call_a1" and assistant.content is None
    assert (tool.role, tool.tool_call_id, tool.content) == ("tool", "call_a1", "14:32 UTC")


async def test_response_format_and_tool_choice_conversion() -> None:
    engine = FakeEngine()
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    body = {**BASIC, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}  # fmt: skip
    await post(engine, body)
    request = engine.requests[0]
    assert (request.tool_choice.mode, request.tool_choice.function) == ("function", "f")
    assert request.parallel_tool_calls is False
    assert request.response_format.type == "json_schema" and request.response_format.schema == schema
    missing = await post(FakeEngine(), {**BASIC, "response_format": {"type": "json_schema"}})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "response_format"


async def test_empty_text_answer_is_empty_string_not_null() -> None:
    response = await post(FakeEngine(events=text_events()), BASIC)
    assert response.json()["choices"][0]["message"]["content"] == ""
