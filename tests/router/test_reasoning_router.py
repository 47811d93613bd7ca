"""Reasoning in every protocol, with a scripted engine: the exact reasoning frames of OpenAI chat, the
Responses API, Anthropic and Ollama, streamed and not (streamed equals non-streamed), validated against
the official SDK types; and the reasoning controls each protocol sends, as the engine receives them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import ollama
import pytest
from anthropic.types import Message
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from chuk_lazarus.core.types import ChatMessage, ReasoningControl
from chuk_lazarus.protocols.anthropic.render import thinking_signature
from tests.fakes import MODEL, FakeEngine, make_app, reasoning_events
from tests.router.test_anthropic_router import SDK_HTTPX, STREAM_EVENT, parse_sse
from tests.router.test_openai_responses_router import events_of
from tests.router.test_openai_router import sse_payloads

THOUGHTS = ("The user", " asks for", " a capital.")
ANSWER = ("Paris", ".")
REASONING = "".join(THOUGHTS)
USER_HI = [{"role": "user", "content": "hi"}]


def thinking_engine(**kwargs: Any) -> FakeEngine:
    return FakeEngine(events=reasoning_events(THOUGHTS, ANSWER), reasoning_format="think_tags", **kwargs)


async def call(
    engine: FakeEngine, path: str, body: dict[str, Any], protocols: tuple[str, ...] = ("openai",)
) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(engine, protocols))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(path, json=body)


# ---- OpenAI chat completions --------------------------------------------------------------------


CHAT = {"model": MODEL, "messages": USER_HI}


async def test_chat_message_carries_the_reasoning_under_both_names() -> None:
    response = await call(thinking_engine(), "/v1/chat/completions", CHAT)
    body = response.json()
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == message["reasoning"] == REASONING
    assert message["content"] == "Paris."
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 5}
    parsed = ChatCompletion.model_validate(body)
    assert parsed.usage is not None and parsed.usage.completion_tokens_details is not None
    assert parsed.usage.completion_tokens_details.reasoning_tokens == 5


async def test_chat_stream_reasoning_deltas_exactly() -> None:
    streamed = await call(thinking_engine(), "/v1/chat/completions", {**CHAT, "stream": True})
    payloads = sse_payloads(streamed)
    assert payloads[-1] == "[DONE]"
    for payload in payloads[:-1]:
        ChatCompletionChunk.model_validate(payload)
    deltas = [p["choices"][0]["delta"] for p in payloads[:-1]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        *({"reasoning_content": t, "reasoning": t} for t in THOUGHTS),
        *({"content": t} for t in ANSWER),
        {},
    ]
    whole = (await call(thinking_engine(), "/v1/chat/completions", CHAT)).json()["choices"][0]["message"]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == whole["reasoning_content"]
    assert "".join(d.get("content", "") for d in deltas) == whole["content"]


async def test_chat_without_reasoning_has_no_reasoning_fields() -> None:
    body = (await call(FakeEngine(), "/v1/chat/completions", CHAT)).json()
    assert "reasoning_content" not in body["choices"][0]["message"]
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}


@pytest.mark.parametrize(
    ("fields", "control"),
    [
        ({}, ReasoningControl()),
        ({"reasoning_effort": "high"}, ReasoningControl(effort="high")),
        ({"reasoning_effort": "max"}, ReasoningControl(effort="high")),
        ({"reasoning_effort": "low"}, ReasoningControl(effort="low")),
        ({"reasoning_effort": "none"}, ReasoningControl(enabled=False)),
        ({"reasoning_effort": "minimal"}, ReasoningControl(enabled=False)),
        ({"reasoning": {"max_tokens": 64}}, ReasoningControl(budget_tokens=64)),
        ({"reasoning": {"enabled": False}}, ReasoningControl(enabled=False)),
        ({"reasoning": {"effort": "medium"}}, ReasoningControl(effort="medium")),
    ],
)
async def test_chat_reasoning_controls(fields: dict[str, Any], control: ReasoningControl) -> None:
    engine = thinking_engine()
    assert (await call(engine, "/v1/chat/completions", {**CHAT, **fields})).status_code == 200
    assert engine.requests[0].reasoning == control


async def test_chat_template_kwargs_and_reasoning_coming_back_in() -> None:
    engine = thinking_engine()
    body = {
        "model": MODEL,
        "chat_template_kwargs": {"enable_thinking": False, "custom": 1},
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello.", "reasoning_content": "Greet back."},
            {"role": "user", "content": "and?"},
            {"role": "assistant", "content": "More.", "reasoning": "Newer name."},
            {"role": "user", "content": "bye"},
        ],
    }
    assert (await call(engine, "/v1/chat/completions", body)).status_code == 200
    request = engine.requests[0]
    assert request.template_kwargs == {"enable_thinking": False, "custom": 1}
    assert request.messages[1] == ChatMessage("assistant", "Hello.", reasoning="Greet back.")
    assert request.messages[3] == ChatMessage("assistant", "More.", reasoning="Newer name.")


async def test_chat_bad_effort_is_a_400() -> None:
    response = await call(thinking_engine(), "/v1/chat/completions", {**CHAT, "reasoning_effort": "huge"})
    assert response.status_code == 400 and "reasoning_effort" in response.text


# ---- OpenAI Responses ---------------------------------------------------------------------------


RESPONSES = {"model": MODEL, "input": "hi"}


def _without_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


async def test_responses_output_has_a_reasoning_item_first() -> None:
    body = (await call(thinking_engine(), "/v1/responses", RESPONSES)).json()
    Response.model_validate(body)
    reasoning, message = body["output"]
    assert reasoning["id"].startswith("rs_")
    assert {k: v for k, v in reasoning.items() if k != "id"} == {
        "type": "reasoning", "summary": [], "status": "completed",
        "content": [{"type": "reasoning_text", "text": REASONING}],
    }  # fmt: skip
    assert message["type"] == "message" and message["content"][0]["text"] == "Paris."
    assert body["usage"]["output_tokens_details"] == {"reasoning_tokens": 5}


async def test_responses_stream_reasoning_events_exactly() -> None:
    engine = thinking_engine()
    events = events_of(await call(engine, "/v1/responses", {**RESPONSES, "stream": True}))
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        *["response.reasoning_text.delta"] * len(THOUGHTS),
        "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * len(ANSWER),
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    added = events[2]
    assert added["item"]["type"] == "reasoning" and added["item"]["content"] == []
    assert added["item"]["status"] == "in_progress"
    assert events[3]["part"] == {"type": "reasoning_text", "text": ""}
    deltas = [e for e in events if e["type"] == "response.reasoning_text.delta"]
    assert [d["delta"] for d in deltas] == list(THOUGHTS)
    assert all(d["output_index"] == 0 and d["content_index"] == 0 for d in deltas)
    assert all(d["item_id"] == added["item"]["id"] for d in deltas)
    done = next(e for e in events if e["type"] == "response.reasoning_text.done")
    assert done["text"] == REASONING
    final = events[-1]["response"]
    whole = (await call(thinking_engine(), "/v1/responses", RESPONSES)).json()
    assert _without_ids(final["output"]) == _without_ids(whole["output"])
    assert final["usage"] == whole["usage"]


async def test_responses_reasoning_effort_and_items_coming_back_in() -> None:
    engine = thinking_engine()
    body = {
        "model": MODEL,
        "reasoning": {"effort": "low", "summary": "auto"},
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [],
             "content": [{"type": "reasoning_text", "text": "Think first."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]},
            {"role": "user", "content": "again"},
        ],
    }  # fmt: skip
    response = (await call(engine, "/v1/responses", body)).json()
    assert response["reasoning"] == {"effort": "low", "summary": "auto"}
    request = engine.requests[0]
    assert request.reasoning == ReasoningControl(effort="low")
    assert request.messages[1] == ChatMessage("assistant", "Hello.", reasoning="Think first.")


async def test_responses_continuation_gives_the_reasoning_back_to_its_turn() -> None:
    engine = thinking_engine()
    transport = httpx.ASGITransport(app=make_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = (await client.post("/v1/responses", json=RESPONSES)).json()
        await client.post("/v1/responses", json={"model": MODEL, "input": "more", "previous_response_id": first["id"]})
    assert engine.requests[1].messages[1] == ChatMessage("assistant", "Paris.", reasoning=REASONING)


# ---- Anthropic ----------------------------------------------------------------------------------


MESSAGES = {"model": MODEL, "max_tokens": 2048, "messages": USER_HI}


async def test_anthropic_thinking_block_before_the_text() -> None:
    body = (await call(thinking_engine(), "/v1/messages", MESSAGES, ("anthropic",))).json()
    Message.model_validate(body)
    assert body["content"] == [
        {"type": "thinking", "thinking": REASONING, "signature": thinking_signature(REASONING)},
        {"type": "text", "text": "Paris."},
    ]


async def test_anthropic_stream_thinking_events_exactly() -> None:
    response = await call(thinking_engine(), "/v1/messages", {**MESSAGES, "stream": True}, ("anthropic",))
    frames = parse_sse(response.text)
    for name, data in frames:
        if name != "ping":  # (not in the SDK's union of stream events)
            STREAM_EVENT.validate_python(data)
    blocks = [(name, data) for name, data in frames if name.startswith("content_block")]
    assert blocks == [
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        *(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                   "delta": {"type": "thinking_delta", "thinking": t}}) for t in THOUGHTS),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": thinking_signature(REASONING)}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "text", "text": ""}}),
        *(("content_block_delta", {"type": "content_block_delta", "index": 1,
                                   "delta": {"type": "text_delta", "text": t}}) for t in ANSWER),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ]  # fmt: skip
    assert [name for name, _ in frames][:3] == ["message_start", "content_block_start", "ping"]


async def test_anthropic_sdk_stream_final_message_equals_create() -> None:
    http = SDK_HTTPX.AsyncClient(transport=SDK_HTTPX.ASGITransport(app=make_app(thinking_engine(), ("anthropic",))))
    client = anthropic.AsyncAnthropic(base_url="http://lazarus", api_key="x", http_client=http, max_retries=0)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    created = await client.messages.create(model=MODEL, max_tokens=2048, messages=USER_HI, thinking=thinking)  # type: ignore[arg-type]
    async with client.messages.stream(
        model=MODEL, max_tokens=2048, messages=USER_HI, thinking=thinking  # type: ignore[arg-type]
    ) as stream:
        final = await stream.get_final_message()
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in created.content]
    assert created.content[0].type == "thinking" and created.content[0].thinking == REASONING


@pytest.mark.parametrize(
    ("thinking", "max_tokens", "control"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, 2048, ReasoningControl(enabled=True, budget_tokens=1024)),
        ({"type": "disabled"}, 16, ReasoningControl(enabled=False)),
        ({"type": "adaptive"}, 16, ReasoningControl(enabled=True)),
        (None, 16, ReasoningControl()),
    ],
)
async def test_anthropic_thinking_request(thinking: Any, max_tokens: int, control: ReasoningControl) -> None:
    engine = thinking_engine()
    body = {**MESSAGES, "max_tokens": max_tokens, **({"thinking": thinking} if thinking else {})}
    response = await call(engine, "/v1/messages", body, ("anthropic",))
    assert response.status_code == 200, response.text
    assert engine.requests[0].reasoning == control


@pytest.mark.parametrize(
    ("thinking", "max_tokens", "message"),
    [
        ({"type": "enabled", "budget_tokens": 1000}, 4096,
         "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        ({"type": "enabled", "budget_tokens": 2048}, 2048,
         "`max_tokens` must be greater than `thinking.budget_tokens`."),
        ({"type": "enabled"}, 2048, "thinking.enabled.budget_tokens: Field required"),
    ],
)  # fmt: skip
async def test_anthropic_thinking_validation(thinking: Any, max_tokens: int, message: str) -> None:
    engine = thinking_engine()
    body = {**MESSAGES, "max_tokens": max_tokens, "thinking": thinking}
    response = await call(engine, "/v1/messages", body, ("anthropic",))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error == {"type": "invalid_request_error", "message": message}
    assert engine.requests == []


async def test_anthropic_thinking_blocks_coming_back_in() -> None:
    engine = thinking_engine()
    body = {**MESSAGES, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Greet.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xxx"},
            {"type": "text", "text": "Hello."},
        ]},
        {"role": "user", "content": "bye"},
    ]}  # fmt: skip
    assert (await call(engine, "/v1/messages", body, ("anthropic",))).status_code == 200
    assert engine.requests[0].messages[1] == ChatMessage("assistant", "Hello.", reasoning="Greet.")


# ---- Ollama -------------------------------------------------------------------------------------


OLLAMA_CHAT = {"model": MODEL, "messages": USER_HI}


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


async def test_ollama_chat_thinking_streamed_and_not() -> None:
    whole = (await call(thinking_engine(), "/api/chat", {**OLLAMA_CHAT, "stream": False}, ("ollama",))).json()
    assert whole["message"] == {"role": "assistant", "content": "Paris.", "thinking": REASONING}
    ollama.ChatResponse.model_validate(whole)
    lines = ndjson(await call(thinking_engine(), "/api/chat", OLLAMA_CHAT, ("ollama",)))
    for line in lines:
        ollama.ChatResponse.model_validate(line)
    messages = [line["message"] for line in lines]
    assert messages[: len(THOUGHTS)] == [{"role": "assistant", "content": "", "thinking": t} for t in THOUGHTS]
    assert [m["content"] for m in messages[len(THOUGHTS):]] == [*ANSWER, ""]
    assert all("thinking" not in m for m in messages[len(THOUGHTS):])
    assert "".join(m.get("thinking", "") for m in messages) == whole["message"]["thinking"]
    assert "".join(m["content"] for m in messages) == whole["message"]["content"]
    assert lines[-1]["done"] is True


async def test_ollama_generate_thinking_streamed_and_not() -> None:
    body = {"model": MODEL, "prompt": "hi"}
    whole = (await call(thinking_engine(), "/api/generate", {**body, "stream": False}, ("ollama",))).json()
    assert (whole["thinking"], whole["response"]) == (REASONING, "Paris.")
    ollama.GenerateResponse.model_validate(whole)
    lines = ndjson(await call(thinking_engine(), "/api/generate", body, ("ollama",)))
    assert [line.get("thinking") for line in lines] == [*THOUGHTS, None, None, None]
    assert "".join(line["response"] for line in lines) == "Paris."


async def test_ollama_sdk_reads_thinking() -> None:
    app = make_app(thinking_engine(), ("ollama",))
    client = ollama.AsyncClient(host="http://lazarus.test", transport=httpx.ASGITransport(app=app))
    reply = await client.chat(model=MODEL, messages=USER_HI, think=True)
    assert (reply.message.thinking, reply.message.content) == (REASONING, "Paris.")
    parts = [part async for part in await client.chat(model=MODEL, messages=USER_HI, think=True, stream=True)]
    assert "".join(p.message.thinking or "" for p in parts) == REASONING


@pytest.mark.parametrize(
    ("think", "control"),
    [
        (None, ReasoningControl()),
        (True, ReasoningControl(enabled=True)),
        (False, ReasoningControl(enabled=False)),
        ("high", ReasoningControl(enabled=True, effort="high")),
    ],
)
async def test_ollama_think_controls(think: Any, control: ReasoningControl) -> None:
    engine = thinking_engine()
    body = {**OLLAMA_CHAT, "stream": False, **({"think": think} if think is not None else {})}
    assert (await call(engine, "/api/chat", body, ("ollama",))).status_code == 200
    assert engine.requests[0].reasoning == control


async def test_ollama_thinking_coming_back_in_and_capabilities() -> None:
    engine = thinking_engine()
    body = {**OLLAMA_CHAT, "stream": False, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello.", "thinking": "Greet."},
        {"role": "user", "content": "bye"},
    ]}  # fmt: skip
    assert (await call(engine, "/api/chat", body, ("ollama",))).status_code == 200
    assert engine.requests[0].messages[1] == ChatMessage("assistant", "Hello.", reasoning="Greet.")
    shown = (await call(engine, "/api/show", {"model": MODEL}, ("ollama",))).json()
    assert shown["capabilities"] == ["completion", "tools", "thinking"]


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate"])
@pytest.mark.parametrize("think", [True, "low"])
async def test_ollama_think_on_a_model_that_cannot(path: str, think: Any) -> None:
    engine = FakeEngine()  # reasoning_format "none"
    body = {"model": MODEL, "messages": USER_HI, "prompt": "hi", "think": think, "stream": False}
    response = await call(engine, path, body, ("ollama",))
    assert response.status_code == 400
    assert response.json() == {"error": f'"{MODEL}" does not support thinking'}
    ok = await call(engine, path, {**body, "think": False}, ("ollama",))
    assert ok.status_code == 200
