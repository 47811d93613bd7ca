"""The Anthropic protocol in-process (httpx.ASGITransport) over a scripted engine: exact frames and shapes,
validated against the official `anthropic` SDK's types, plus the SDK itself talking to the app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import ErrorResponse, Message, MessageTokensCount, ModelInfo, RawMessageStreamEvent
from pydantic import TypeAdapter

from chuk_lazarus.core.errors import ContextLengthExceeded, GenerationFailed, Overloaded
from chuk_lazarus.core.types import ChatMessage, Finish, TextDelta, ToolCallArgsDelta, ToolCallStart, Usage
from tests.fakes import MODEL, FakeEngine, FakeGeneration, make_app, text_events, tool_call_events

try:  # recent anthropic releases use their own httpx fork and refuse a plain httpx client
    import httpx2 as SDK_HTTPX  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    SDK_HTTPX = httpx

STREAM_EVENT = TypeAdapter(RawMessageStreamEvent)
USER_HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def client_for(
    engine: FakeEngine, protocols: tuple[str, ...] = ("anthropic",), **kwargs: Any
) -> httpx.AsyncClient:
    app = make_app(engine, protocols, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lazarus")


async def post(
    engine: FakeEngine, body: dict[str, Any], path: str = "/v1/messages", **kw: Any
) -> httpx.Response:
    async with client_for(engine) as client:
        return await client.post(path, json=body, **kw)


def request(**overrides: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 16, "messages": USER_HI, **overrides}


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        frames.append((lines["event"], json.loads(lines["data"])))
    return frames


def assert_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    if (
        kind != "request_too_large"
    ):  # documented by Anthropic (sent by its proxy), absent from the SDK's union
        ErrorResponse.model_validate(body)
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["request_id"].startswith("req_")
    message: str = body["error"]["message"]
    return message


# ---- non-streaming ------------------------------------------------------------------------------


async def test_message_shape_validates_against_sdk_types() -> None:
    engine = FakeEngine(events=text_events("Hello", " world", prompt_tokens=9))
    response = await post(engine, request())
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    message = Message.model_validate(response.json())
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == MODEL
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Hello world"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 2)
    assert engine.streams[0].closed


@pytest.mark.parametrize(
    ("finish", "stop_sequence", "expected"),
    [("stop", None, "end_turn"), ("stop", "END", "stop_sequence"), ("length", None, "max_tokens")],
)
async def test_stop_reasons(finish: str, stop_sequence: str | None, expected: str) -> None:
    engine = FakeEngine(events=text_events("x", reason=finish, stop_sequence=stop_sequence))
    body = (await post(engine, request(stop_sequences=["END"]))).json()
    assert body["stop_reason"] == expected
    assert body["stop_sequence"] == stop_sequence


async def test_tool_use_block() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ['{"city": ', '"Paris"}'], call_id="call_abc"))
    body = (await post(engine, request(tools=[WEATHER_TOOL], tool_choice={"type": "any"}))).json()
    message = Message.model_validate(body)
    assert message.stop_reason == "tool_use"
    [block] = body["content"]
    assert block == {"type": "tool_use", "id": "toolu_abc", "name": "get_weather", "input": {"city": "Paris"}}


async def test_empty_answer_has_no_blocks() -> None:
    engine = FakeEngine(events=text_events())
    body = (await post(engine, request())).json()
    assert body["content"] == [] and body["stop_reason"] == "end_turn"


# ---- streaming ---------------------------------------------------------------------------------


async def test_stream_exact_event_sequence() -> None:
    engine = FakeEngine(events=text_events("Hel", "lo", prompt_tokens=11), prompt_tokens=11)
    response = await post(engine, request(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(response.text)
    assert [name for name, _ in frames] == [
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    for name, data in frames:
        assert data["type"] == name
        if name != "ping":  # the SDK drops pings before parsing, so its union has no ping type
            STREAM_EVENT.validate_python(data)
    start = frames[0][1]["message"]
    assert start["id"].startswith("msg_") and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 11
    assert frames[1][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert [f[1]["delta"] for f in frames[3:5]] == [
        {"type": "text_delta", "text": "Hel"},
        {"type": "text_delta", "text": "lo"},
    ]
    delta = frames[6][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 2
    assert engine.streams[0].closed


async def test_stream_tool_use_input_json_delta() -> None:
    fragments = ['{"ci', 'ty": "Pa', 'ris"}']
    engine = FakeEngine(events=[TextDelta("Let me check."), *tool_call_events("get_weather", fragments)])
    frames = parse_sse((await post(engine, request(stream=True, tools=[WEATHER_TOOL]))).text)
    names = [name for name, _ in frames]
    assert names == [
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta",
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    tool_start = frames[5][1]
    assert tool_start["index"] == 1
    assert tool_start["content_block"] == {
        "type": "tool_use",
        "id": "toolu_test1",
        "name": "get_weather",
        "input": {},
    }
    partials = [
        d["delta"]["partial_json"] for n, d in frames if n == "content_block_delta" and d["index"] == 1
    ]
    assert "".join(partials) == '{"city": "Paris"}'
    assert frames[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_stream_with_no_content() -> None:
    frames = parse_sse((await post(FakeEngine(events=text_events()), request(stream=True))).text)
    assert [n for n, _ in frames] == ["message_start", "ping", "message_delta", "message_stop"]


async def test_error_after_stream_began_is_an_error_event() -> None:
    engine = FakeEngine(events=[TextDelta("partial")], mid_stream_error=GenerationFailed("backend exploded"))
    response = await post(engine, request(stream=True))
    assert response.status_code == 200
    frames = parse_sse(response.text)
    name, data = frames[-1]
    assert name == "error"
    ErrorResponse.model_validate(data)
    assert data["error"] == {"type": "api_error", "message": "backend exploded"}
    assert "message_stop" not in [n for n, _ in frames]
    assert engine.streams[0].closed


class SlowGeneration(FakeGeneration):
    """Each event becomes available 50 ms after the previous one was taken."""

    due: float | None = None

    async def next(self, timeout: float | None = None) -> Any:
        if not self._items:  # the last choice has finished: the end is known at once
            return await super().next(timeout)
        loop = asyncio.get_running_loop()
        if self.due is None:
            self.due = loop.time() + 0.05
        wait = self.due - loop.time()
        if timeout is not None and wait > timeout:
            await asyncio.sleep(timeout)
            return None  # silence: the stream sends a keepalive
        await asyncio.sleep(max(wait, 0.0))
        self.due = None
        return await super().next(timeout)


class SlowEngine(FakeEngine):
    async def start(self, request: Any) -> FakeGeneration:
        self.requests.append(request)
        generation = SlowGeneration(self.events, None)
        self.streams.append(generation)
        return generation


async def test_pings_while_the_engine_is_silent() -> None:
    engine = SlowEngine(events=text_events("a", "b"))
    async with client_for(engine, keepalive_s=0.01) as client:
        frames = parse_sse((await client.post("/v1/messages", json=request(stream=True))).text)
    names = [n for n, _ in frames]
    assert names.count("ping") > 1
    texts = [d["delta"]["text"] for n, d in frames if n == "content_block_delta"]
    assert texts == ["a", "b"]  # no event was lost to a timed-out wait
    assert names[-2:] == ["message_delta", "message_stop"]


async def test_stream_without_finish_ends_in_an_error_event() -> None:
    frames = parse_sse((await post(FakeEngine(events=[TextDelta("a")]), request(stream=True))).text)
    assert frames[-1][0] == "error" and frames[-1][1]["error"]["type"] == "api_error"


# ---- the official SDK, in process -------------------------------------------------------------


def sdk(
    engine: FakeEngine, protocols: tuple[str, ...] = ("anthropic",), **kwargs: Any
) -> anthropic.AsyncAnthropic:
    http = SDK_HTTPX.AsyncClient(transport=SDK_HTTPX.ASGITransport(app=make_app(engine, protocols, **kwargs)))
    return anthropic.AsyncAnthropic(base_url="http://lazarus", api_key=kwargs.get("api_key") or "unused",
                                    http_client=http, max_retries=0)  # fmt: skip


async def test_sdk_stream_final_message_equals_create() -> None:
    engine = FakeEngine(events=[TextDelta("Hi "), *tool_call_events("get_weather", ['{"city":', '"Oslo"}'])])
    client = sdk(engine)
    created = await client.messages.create(model=MODEL, max_tokens=16, messages=USER_HI, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    async with client.messages.stream(
        model=MODEL, max_tokens=16, messages=USER_HI, tools=[WEATHER_TOOL]
    ) as stream:  # type: ignore[list-item]
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Hi "
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in created.content]
    assert final.stop_reason == created.stop_reason == "tool_use"
    assert final.usage.input_tokens == created.usage.input_tokens


async def test_sdk_count_tokens_and_models() -> None:
    engine = FakeEngine(prompt_tokens=42)
    client = sdk(engine)
    counted = await client.messages.count_tokens(model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert isinstance(counted, MessageTokensCount) and counted.input_tokens == 42
    assert engine.requests[-1].tools[0].name == "get_weather"  # tools are part of what is counted
    page = await client.models.list()
    assert [m.id for m in page.data] == [MODEL]
    assert page.data[0].type == "model" and page.data[0].display_name == MODEL
    got = await client.models.retrieve(MODEL)
    assert isinstance(got, ModelInfo) and got.id == MODEL


async def test_sdk_error_classes() -> None:
    client = sdk(FakeEngine(start_error=Overloaded("queue full", retry_after=3)))
    with pytest.raises(anthropic.InternalServerError) as info:
        await client.messages.create(model=MODEL, max_tokens=4, messages=USER_HI)  # type: ignore[arg-type]
    assert info.value.status_code == 529
    with pytest.raises(anthropic.BadRequestError):
        await sdk(FakeEngine()).messages.create(model=MODEL, max_tokens=4, messages=[])


async def test_sdk_mid_stream_error_raises() -> None:
    client = sdk(FakeEngine(events=[TextDelta("a")], mid_stream_error=GenerationFailed("boom")))
    with pytest.raises(anthropic.APIStatusError, match="boom"):
        async with client.messages.stream(model=MODEL, max_tokens=4, messages=USER_HI) as stream:  # type: ignore[arg-type]
            async for _ in stream:
                pass


# ---- request conversion -----------------------------------------------------------------------


async def test_conversion_of_sampling_system_and_ignored_fields() -> None:
    engine = FakeEngine()
    body = request(
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be kind."}],
        temperature=0.0, top_p=0.9, top_k=40, stop_sequences=["STOP", ""],
        metadata={"user_id": "u1"}, service_tier="auto",
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
        some_future_field=True,
    )  # fmt: skip
    headers = {"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31,other"}
    response = await post(engine, body, path="/v1/messages?beta=true", headers=headers)
    assert response.status_code == 200, response.text
    req = engine.requests[0]
    assert req.messages == (ChatMessage("system", "Be brief.\n\nBe kind."), ChatMessage("user", "hi"))
    assert (req.sampling.temperature, req.sampling.top_p, req.sampling.top_k) == (0.0, 0.9, 40)
    assert req.stop == ("STOP",) and req.max_tokens == 16
    assert req.tool_choice.mode == "none" and req.tools == ()


@pytest.mark.parametrize(
    ("choice", "mode", "function", "parallel"),
    [
        (None, "auto", None, True),
        ({"type": "auto"}, "auto", None, True),
        ({"type": "any"}, "required", None, True),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", None, False),
        ({"type": "tool", "name": "get_weather"}, "function", "get_weather", True),
        ({"type": "none"}, "none", None, True),
    ],
)
async def test_tool_choice_mapping(choice: Any, mode: str, function: str | None, parallel: bool) -> None:
    engine = FakeEngine()
    extra = {"tool_choice": choice} if choice else {}
    assert (await post(engine, request(tools=[WEATHER_TOOL], **extra))).status_code == 200
    req = engine.requests[0]
    assert (req.tool_choice.mode, req.tool_choice.function, req.parallel_tool_calls) == (
        mode,
        function,
        parallel,
    )
    [tool] = req.tools
    assert (tool.name, tool.description, tool.parameters) == (
        "get_weather",
        "Weather for a city",
        WEATHER_TOOL["input_schema"],
    )


async def test_tool_result_round_trip_conversion() -> None:
    engine = FakeEngine()
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "need a tool", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Lyon"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": [{"type": "text", "text": "station offline"}]},
            {"type": "text", "text": "Thanks"},
        ]},
    ]  # fmt: skip
    assert (await post(engine, request(messages=messages, tools=[WEATHER_TOOL]))).status_code == 200
    got = engine.requests[0].messages
    assert got[0] == ChatMessage("user", "Weather in Paris?")
    assert got[1].role == "assistant" and got[1].content == "Checking."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in got[1].tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Paris"}), ("toolu_2", "get_weather", {"city": "Lyon"})
    ]  # fmt: skip
    assert got[2] == ChatMessage("tool", "18C", tool_call_id="toolu_1", name="get_weather")
    assert got[3] == ChatMessage("tool", "Error: station offline", tool_call_id="toolu_2", name="get_weather")
    assert got[4] == ChatMessage("user", "Thanks")


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": MODEL, "messages": USER_HI}, "max_tokens"),
        (request(max_tokens=0), "max_tokens"),
        (request(temperature=1.5), "temperature"),
        (request(messages=[]), "messages"),
        (request(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (request(messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]), "image"),
        (request(messages=[{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}]), "toolu_nope"),
        (request(tool_choice={"type": "any"}), "requires tools"),
        (request(tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "other"}), "other"),
        (request(tools=[{"type": "web_search_20250305", "name": "web_search"}]), "web_search_20250305"),
        (request(tools=[{"name": "t", "input_schema": {"type": "array"}}]), "object"),
        (request(messages=[{"role": "user", "content": [{"type": "tool_use", "name": "x"}]}]), "id"),
        # A block `type` that is no string (found by schemathesis: it was a 500), in messages and results.
        (request(messages=[{"role": "user", "content": [{"type": {}}]}]), "messages[0].content"),
        (request(messages=[{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": ["text"]}]}]}]), "messages[0].content"),
    ],
)  # fmt: skip
async def test_bad_requests_are_invalid_request_errors(body: dict[str, Any], fragment: str) -> None:
    engine = FakeEngine()
    message = assert_error(await post(engine, body), 400, "invalid_request_error")
    assert fragment in message
    assert engine.streams == []


async def test_bad_json_and_unknown_model() -> None:
    async with client_for(FakeEngine()) as client:
        response = await client.post(
            "/v1/messages", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_error(response, 400, "invalid_request_error")
        assert "claude-x" in assert_error(
            await client.post("/v1/messages", json=request(model="claude-x")), 404, "not_found_error"
        )
        assert_error(await client.post("/v1/messages/count_tokens", json={"model": "claude-x", "messages": USER_HI}),
                     404, "not_found_error")  # fmt: skip
        assert_error(await client.get("/v1/messages"), 405, "invalid_request_error")
        assert_error(await client.post("/v1/messages/nope", json={}), 404, "not_found_error")


async def test_overloaded_is_529_with_retry_after() -> None:
    response = await post(
        FakeEngine(start_error=Overloaded("queue full", retry_after=2)), request(stream=True)
    )
    assert_error(response, 529, "overloaded_error")
    assert response.headers["retry-after"] == "2"


async def test_context_length_uses_anthropic_wording() -> None:
    engine = FakeEngine(start_error=ContextLengthExceeded("4100 tokens > 4096"))
    message = assert_error(await post(engine, request()), 400, "invalid_request_error")
    assert message.startswith("prompt is too long")


async def test_structured_output_becomes_a_json_schema_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    for extra in ({"output_config": {"effort": "low", "format": {"type": "json_schema", "schema": schema}}},
                  {"output_format": {"type": "json_schema", "schema": schema}}):  # fmt: skip
        engine = FakeEngine()
        assert (await post(engine, request(**extra))).status_code == 200
        assert (engine.requests[0].response_format.type, engine.requests[0].response_format.schema) == (
            "json_schema",
            schema,
        )
    engine = FakeEngine()
    await post(engine, request(output_config={"effort": "high"}))
    assert engine.requests[0].response_format.type == "text"


async def test_models_validate_as_sdk_model_info() -> None:
    async with client_for(FakeEngine()) as client:
        page = (await client.get("/v1/models")).json()
        one = (await client.get(f"/v1/models/{MODEL}")).json()
        missing = await client.get("/v1/models/other")
    assert page["has_more"] is False and page["first_id"] == page["last_id"] == MODEL
    for item in (*page["data"], one):
        info = ModelInfo.model_validate(item)
        assert info.id == MODEL and info.max_input_tokens == 2048
    assert_error(missing, 404, "not_found_error")


async def test_generation_failure_before_stream_is_500_api_error() -> None:
    assert_error(await post(FakeEngine(start_error=GenerationFailed("nope")), request()), 500, "api_error")


async def test_body_too_large_is_413() -> None:
    async with client_for(FakeEngine(), max_body_bytes=100) as client:
        response = await client.post("/v1/messages", json=request(system="x" * 500))
    assert_error(response, 413, "request_too_large")


# ---- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"x-api-key": "sekrit"}, True),
        ({"authorization": "Bearer sekrit"}, True),
        ({"x-api-key": "wrong"}, False),
        ({}, False),
    ],
)
async def test_auth(headers: dict[str, str], ok: bool) -> None:
    async with client_for(FakeEngine(), api_key="sekrit") as client:
        messages = await client.post("/v1/messages", json=request(), headers=headers)
        count = await client.post(
            "/v1/messages/count_tokens", json={"model": MODEL, "messages": USER_HI}, headers=headers
        )
        models = await client.get("/v1/models", headers=headers)
    for response in (messages, count, models):
        if ok:
            assert response.status_code == 200, response.text
        else:
            assert_error(response, 401, "authentication_error")


# ---- sharing /v1 with OpenAI ------------------------------------------------------------------


async def test_with_openai_both_protocols_keep_their_routes_and_error_shapes() -> None:
    async with client_for(FakeEngine(), protocols=("openai", "anthropic")) as client:
        message = await client.post("/v1/messages", json=request())
        assert Message.model_validate(message.json()).content
        chat = await client.post("/v1/chat/completions", json={"model": MODEL, "messages": USER_HI})
        assert chat.json()["object"] == "chat.completion"
        models = (await client.get("/v1/models")).json()
        assert models["object"] == "list" and models["data"][0]["object"] == "model"  # OpenAI's shape
        assert_error(
            await client.post("/v1/messages", json=request(temperature=1.5)), 400, "invalid_request_error"
        )
        openai_error = (await client.post("/v1/chat/completions", json={"model": MODEL})).json()
        assert openai_error["error"]["type"] == "invalid_request_error" and "type" not in openai_error


async def test_count_tokens_endpoint() -> None:
    engine = FakeEngine(prompt_tokens=17)
    body = {
        "model": MODEL,
        "system": "s",
        "messages": USER_HI,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "any"},
    }
    response = await post(engine, body, path="/v1/messages/count_tokens?beta=true")
    assert response.status_code == 200
    assert MessageTokensCount.model_validate(response.json()).input_tokens == 17
    assert response.json() == {"input_tokens": 17}
    req = engine.requests[0]
    assert req.messages[0] == ChatMessage("system", "s") and req.tool_choice.mode == "required"


def test_writer_interleaving_is_robust() -> None:
    """Arguments for a call arrive after a later text delta: they still land on their own block."""
    from chuk_lazarus.protocols.anthropic.render import MessageRenderer

    renderer = MessageRenderer(model=MODEL)
    frames = renderer.start(FakeGeneration([], None, prompt_tokens=1))
    for event in (ToolCallStart(0, "call_a", "f"), TextDelta("x"), ToolCallArgsDelta(0, "{}")):
        frames += renderer.event(0, event)
    frames += renderer.event(0, Finish("tool_calls", Usage(1, 2)))
    parsed = parse_sse(b"".join(frames).decode())
    deltas = [d for n, d in parsed if n == "content_block_delta"]
    assert deltas[-1] == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": "{}"},
    }
