"""The Responses API in-process with a scripted engine: exact events, conversions, the store, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent
from pydantic import TypeAdapter

from chuk_lazarus.core.errors import ContextLengthExceeded, GenerationFailed, InvalidRequest
from chuk_lazarus.core.types import ChatMessage, TextDelta, ToolCall, ToolCallArgsDelta, ToolCallStart
from chuk_lazarus.protocols.openai.responses.store import ResponseStore
from tests.fakes import MODEL, FakeEngine, make_app, text_events, tool_call_events

STREAM_EVENT = TypeAdapter(ResponseStreamEvent)
ITEM = TypeAdapter(ResponseItem)
BASIC = {"model": MODEL, "input": "hi"}
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def client_for(
    engine: FakeEngine, *, store: ResponseStore | None = None, **app_kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(engine, **app_kwargs)
    if store is not None:
        app.state.responses_store = store
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def create(engine: FakeEngine, body: dict[str, Any]) -> httpx.Response:
    async with client_for(engine) as client:
        return await client.post("/v1/responses", json=body)


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    """Every SSE event, checked: `event:` names the data's type, and the SDK's event types accept it."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for frame in response.text.split("\n\n"):
        if not frame.strip() or frame.startswith(":"):
            continue
        name, data = frame.split("\n")
        assert name.startswith("event: ") and data.startswith("data: "), frame
        event = json.loads(data[len("data: ") :])
        assert name == f"event: {event['type']}"
        STREAM_EVENT.validate_python(event)
        events.append(event)
    return events


def without_volatile(response: dict[str, Any]) -> dict[str, Any]:
    """A response with its ids and times blanked, to compare two renderings of the same generation."""
    out = {k: v for k, v in response.items() if k not in ("id", "created_at", "completed_at")}
    out["output"] = [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]
    return out


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


# -- non-streaming ---------------------------------------------------------------------------------


async def test_non_streaming_response_matches_the_sdk_type() -> None:
    response = await create(FakeEngine(), {**BASIC, "instructions": "Be brief.", "metadata": {"k": "v"},
                                           "temperature": 0.2, "top_p": 0.9, "user": "u1"})  # fmt: skip
    assert response.status_code == 200
    body = Response.model_validate(response.json())
    assert body.id.startswith("resp_") and body.object == "response" and body.status == "completed"
    assert body.output_text == "Hello world" and body.model == MODEL
    (message,) = body.output
    assert message.type == "message" and message.id.startswith("msg_") and message.status == "completed"
    assert body.usage is not None
    assert (body.usage.input_tokens, body.usage.output_tokens, body.usage.total_tokens) == (5, 2, 7)
    assert body.usage.input_tokens_details.cached_tokens == 0 and body.usage.output_tokens_details.reasoning_tokens == 0
    assert body.incomplete_details is None and body.error is None
    assert (body.instructions, body.metadata, body.temperature, body.top_p, body.user) == (
        "Be brief.", {"k": "v"}, 0.2, 0.9, "u1")  # fmt: skip
    assert body.store is True and body.previous_response_id is None and body.tools == []


async def test_the_request_becomes_one_engine_request() -> None:
    engine = FakeEngine()
    body = {
        "model": MODEL,
        "instructions": "You are terse.",
        "input": [
            {"role": "developer", "content": "Use celsius."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in "},
                                                             {"type": "input_text", "text": "Paris?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "18C in Paris."}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "max_output_tokens": 33,
        "temperature": 0,
        "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}},
    }  # fmt: skip
    response = await create(engine, body)
    assert response.status_code == 200, response.text
    (request,) = engine.requests
    assert request.messages == (
        ChatMessage("system", "You are terse."),
        ChatMessage("system", "Use celsius."),
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("assistant", None, tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        ChatMessage("tool", "18C", tool_call_id="call_1", name="get_weather"),
        ChatMessage("assistant", "18C in Paris."),
        ChatMessage("user", "Thanks"),
    )
    assert [t.name for t in request.tools] == ["get_weather"] and request.tools[0].parameters == WEATHER["parameters"]
    assert (request.tool_choice.mode, request.tool_choice.function) == ("function", "get_weather")
    assert request.parallel_tool_calls is False and request.max_tokens == 33 and request.sampling.temperature == 0
    assert request.response_format.type == "json_schema" and request.response_format.schema == {"type": "object"}
    echoed = Response.model_validate(response.json())
    assert echoed.tool_choice.type == "function" and echoed.tools[0].name == "get_weather"  # type: ignore[union-attr]
    assert echoed.text is not None and echoed.text.format is not None and echoed.text.format.type == "json_schema"


async def test_defaults_in_the_engine_request() -> None:
    engine = FakeEngine()
    assert (await create(engine, {**BASIC, "text": {"format": {"type": "json_object"}}})).status_code == 200
    (request,) = engine.requests
    assert request.messages == (ChatMessage("user", "hi"),) and request.max_tokens == 512
    assert request.tool_choice.mode == "none" and request.response_format.type == "json_object"
    assert (request.sampling.temperature, request.sampling.top_p, request.n) == (1.0, 1.0, 1)


async def test_a_tool_call_is_a_function_call_item() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ['{"city":', '"Paris"}'], call_id="call_abc"))
    response = await create(engine, {**BASIC, "tools": [WEATHER], "tool_choice": "required"})
    body = Response.model_validate(response.json())
    (call,) = body.output
    assert call.type == "function_call" and call.call_id == "call_abc" and call.name == "get_weather"
    assert call.arguments == '{"city":"Paris"}' and call.status == "completed"
    assert call.id is not None and call.id.startswith("fc_") and body.output_text == ""


async def test_max_output_tokens_makes_it_incomplete() -> None:
    engine = FakeEngine(events=text_events("Once", " upon", reason="length"))
    body = Response.model_validate((await create(engine, {**BASIC, "max_output_tokens": 2})).json())
    assert body.status == "incomplete" and body.incomplete_details is not None
    assert body.incomplete_details.reason == "max_output_tokens" and body.max_output_tokens == 2
    assert body.output[0].status == "incomplete" and body.output_text == "Once upon"  # type: ignore[union-attr]


# -- streaming -------------------------------------------------------------------------------------


async def test_streamed_text_events_in_order_and_equal_to_non_streamed() -> None:
    response = await create(FakeEngine(), {**BASIC, "stream": True})
    events = events_of(response)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]  # fmt: skip
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1
    item_id = events[2]["item"]["id"]
    for event in events[3:9]:
        assert (event["item_id"] if "item_id" in event else event["item"]["id"]) == item_id
        assert event["output_index"] == 0
    assert all(e["content_index"] == 0 for e in events[3:8])
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    final = Response.model_validate(events[-1]["response"])
    assert deltas == final.output_text == events[6]["text"] == "Hello world"
    assert final.output[0].id == item_id
    whole = (await create(FakeEngine(), BASIC)).json()
    assert without_volatile(events[-1]["response"]) == without_volatile(whole)


async def test_streamed_tool_call_events() -> None:
    engine = FakeEngine(events=[TextDelta("Let me check."), *tool_call_events("get_weather", ['{"city":', '"Paris"}'])])
    body = {**BASIC, "tools": [WEATHER], "stream": True}
    events = events_of(await create(engine, body))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed",
    ]  # fmt: skip
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    call_added, args_done, call_done = events[8], events[11], events[12]
    assert call_added["output_index"] == 1 and call_added["item"]["arguments"] == ""
    assert call_added["item"]["status"] == "in_progress" and call_added["item"]["call_id"] == "call_test1"
    assert args_done["arguments"] == '{"city":"Paris"}' and args_done["item_id"] == call_added["item"]["id"]
    assert call_done["item"]["status"] == "completed"
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["message", "function_call"]
    whole = (await create(FakeEngine(events=engine.events), {**body, "stream": False})).json()
    assert without_volatile(final) == without_volatile(whole)


async def test_two_calls_close_one_after_the_other() -> None:
    events: list[Any] = [ToolCallStart(0, "call_a", "f"), ToolCallArgsDelta(0, "{}"),
                         ToolCallStart(1, "call_b", "g"), ToolCallArgsDelta(1, '{"x":1}'),
                         *tool_call_events("h", [])[-1:]]  # fmt: skip
    streamed = events_of(await create(FakeEngine(events=events), {**BASIC, "stream": True}))
    kinds = [(e["type"], e.get("output_index")) for e in streamed[2:]]
    assert kinds == [
        ("response.output_item.added", 0), ("response.function_call_arguments.delta", 0),
        ("response.function_call_arguments.done", 0), ("response.output_item.done", 0),
        ("response.output_item.added", 1), ("response.function_call_arguments.delta", 1),
        ("response.function_call_arguments.done", 1), ("response.output_item.done", 1),
        ("response.completed", None),
    ]  # fmt: skip
    calls = [(i["call_id"], i["arguments"]) for i in streamed[-1]["response"]["output"]]
    assert calls == [("call_a", "{}"), ("call_b", '{"x":1}')]


async def test_streamed_length_cut_ends_with_response_incomplete() -> None:
    engine = FakeEngine(events=text_events("a", "b", reason="length"))
    events = events_of(await create(engine, {**BASIC, "stream": True, "max_output_tokens": 2}))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-2]["item"]["status"] == "incomplete"


async def test_empty_answer_is_an_empty_message_both_ways() -> None:
    streamed = events_of(await create(FakeEngine(events=text_events()), {**BASIC, "stream": True}))
    assert [e["type"] for e in streamed][2:] == [
        "response.output_item.added", "response.content_part.added", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]  # fmt: skip
    whole = (await create(FakeEngine(events=text_events()), BASIC)).json()
    assert without_volatile(streamed[-1]["response"]) == without_volatile(whole)
    assert Response.model_validate(whole).output_text == ""


async def test_a_failure_mid_stream_is_an_error_event_then_response_failed() -> None:
    engine = FakeEngine(events=[TextDelta("Hel")], mid_stream_error=GenerationFailed("the backend broke"))
    async with client_for(engine) as client:
        events = events_of(await client.post("/v1/responses", json={**BASIC, "stream": True}))
        assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
        assert events[-2]["message"] == "the backend broke"
        failed = events[-1]["response"]
        assert failed["status"] == "failed" and failed["error"] == {"code": "server_error",
                                                                    "message": "the backend broke"}  # fmt: skip
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        stored = await client.get(f"/v1/responses/{failed['id']}")
        assert stored.status_code == 200 and stored.json()["status"] == "failed"
        engine.mid_stream_error, engine.events = None, text_events("ok")
        assert (await client.post("/v1/responses", json=BASIC)).status_code == 200


async def test_a_failure_before_any_event_is_a_plain_error() -> None:
    engine = FakeEngine(start_error=ContextLengthExceeded("the prompt is too long", param="input"))
    for stream in (False, True):
        error = error_of(await create(engine, {**BASIC, "stream": stream}), 400)
        assert error["code"] == "context_length_exceeded" and error["param"] == "input"


# -- the store -------------------------------------------------------------------------------------


async def test_get_delete_and_404_after_delete() -> None:
    async with client_for(FakeEngine()) as client:
        created = (await client.post("/v1/responses", json=BASIC)).json()
        got = await client.get(f"/v1/responses/{created['id']}")
        assert got.status_code == 200 and got.json() == created
        deleted = await client.delete(f"/v1/responses/{created['id']}")
        assert deleted.status_code == 200
        assert deleted.json() == {"id": created["id"], "object": "response", "deleted": True}
        error = error_of(await client.get(f"/v1/responses/{created['id']}"), 404)
        assert created["id"] in error["message"] and error["type"] == "invalid_request_error"
        error_of(await client.delete(f"/v1/responses/{created['id']}"), 404)
        error_of(await client.get(f"/v1/responses/{created['id']}/input_items"), 404)


async def test_streamed_response_is_stored_as_it_completed() -> None:
    async with client_for(FakeEngine()) as client:
        events = events_of(await client.post("/v1/responses", json={**BASIC, "stream": True}))
        final = events[-1]["response"]
        assert (await client.get(f"/v1/responses/{final['id']}")).json() == final


async def test_store_false_keeps_nothing() -> None:
    async with client_for(FakeEngine()) as client:
        created = (await client.post("/v1/responses", json={**BASIC, "store": False})).json()
        assert created["store"] is False
        error_of(await client.get(f"/v1/responses/{created['id']}"), 404)


async def test_previous_response_id_prepends_the_conversation() -> None:
    engine = FakeEngine()
    async with client_for(engine) as client:
        first = (await client.post("/v1/responses", json={**BASIC, "instructions": "Only once."})).json()
        engine.events = text_events("Fine")
        second = (await client.post("/v1/responses", json={"model": MODEL, "input": "And you?",
                                                             "previous_response_id": first["id"]})).json()  # fmt: skip
        engine.events = text_events("Bye")
        third = await client.post("/v1/responses", json={"model": MODEL, "input": "Bye",
                                                          "previous_response_id": second["id"], "stream": True})  # fmt: skip
        final = events_of(third)[-1]["response"]
        assert final["previous_response_id"] == second["id"]
        # Its input items are the whole conversation before its output (as OpenAI lists a continuation).
        listed = (await client.get(f"/v1/responses/{final['id']}/input_items", params={"order": "asc"})).json()
        texts = [item["content"][0]["text"] for item in listed["data"]]
        assert texts == ["hi", "Hello world", "And you?", "Fine", "Bye"]
        assert listed["data"][1]["id"] == first["output"][0]["id"]
    assert second["previous_response_id"] == first["id"]
    # The instructions of the first request are not carried over (as OpenAI does).
    assert engine.requests[2].messages == (
        ChatMessage("user", "hi"), ChatMessage("assistant", "Hello world"),
        ChatMessage("user", "And you?"), ChatMessage("assistant", "Fine"), ChatMessage("user", "Bye"),
    )  # fmt: skip


async def test_tool_round_trip_through_previous_response_id() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ['{"city":"Paris"}'], call_id="call_w"))
    async with client_for(engine) as client:
        first = (await client.post("/v1/responses", json={**BASIC, "tools": [WEATHER]})).json()
        engine.events = text_events("18C")
        output = {"type": "function_call_output", "call_id": "call_w", "output": "18C"}
        second = await client.post("/v1/responses", json={"model": MODEL, "input": [output], "tools": [WEATHER],
                                                           "previous_response_id": first["id"]})  # fmt: skip
    assert Response.model_validate(second.json()).output_text == "18C"
    assert engine.requests[1].messages[1:] == (
        ChatMessage("assistant", None, tool_calls=(ToolCall("call_w", "get_weather", '{"city":"Paris"}'),)),
        ChatMessage("tool", "18C", tool_call_id="call_w", name="get_weather"),
    )


async def test_unknown_previous_response_id_is_a_404_and_nothing_runs() -> None:
    engine = FakeEngine()
    error = error_of(await create(engine, {**BASIC, "previous_response_id": "resp_nope"}), 404)
    assert error["param"] == "previous_response_id" and "resp_nope" in error["message"]
    assert engine.requests == []


async def test_least_recently_used_is_evicted_past_the_limit() -> None:
    async with client_for(FakeEngine(), responses_store_max=2) as client:
        ids = [(await client.post("/v1/responses", json=BASIC)).json()["id"] for _ in range(2)]
        assert (await client.get(f"/v1/responses/{ids[0]}")).status_code == 200  # ids[1] is now the oldest used
        ids.append((await client.post("/v1/responses", json=BASIC)).json()["id"])
        assert (await client.get(f"/v1/responses/{ids[0]}")).status_code == 200
        assert (await client.get(f"/v1/responses/{ids[2]}")).status_code == 200
        error_of(await client.get(f"/v1/responses/{ids[1]}"), 404)
        error_of(await client.post("/v1/responses", json={**BASIC, "previous_response_id": ids[1]}), 404)


async def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    async with client_for(FakeEngine(), store=ResponseStore(10, 60.0, clock=clock)) as client:
        old = (await client.post("/v1/responses", json=BASIC)).json()["id"]
        clock.now += 30
        young = (await client.post("/v1/responses", json=BASIC)).json()["id"]
        clock.now += 29
        assert (await client.get(f"/v1/responses/{old}")).status_code == 200  # use does not extend it
        clock.now += 2
        error_of(await client.get(f"/v1/responses/{old}"), 404)
        error_of(await client.post("/v1/responses", json={**BASIC, "previous_response_id": old}), 404)
        assert (await client.get(f"/v1/responses/{young}")).status_code == 200


async def test_store_max_zero_keeps_nothing() -> None:
    async with client_for(FakeEngine(), responses_store_max=0) as client:
        created = (await client.post("/v1/responses", json=BASIC)).json()
        error_of(await client.get(f"/v1/responses/{created['id']}"), 404)


async def test_input_items_list_in_openai_shape_and_order() -> None:
    body = {"model": MODEL, "input": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
                                      {"role": "user", "content": [{"type": "input_text", "text": "three"}]}]}  # fmt: skip
    async with client_for(FakeEngine()) as client:
        rid = (await client.post("/v1/responses", json=body)).json()["id"]
        listed = (await client.get(f"/v1/responses/{rid}/input_items")).json()
        assert listed["object"] == "list" and listed["has_more"] is False
        texts = [item["content"][0]["text"] for item in listed["data"]]
        assert texts == ["three", "two", "one"]  # OpenAI's default order: desc
        for item in listed["data"]:
            ITEM.validate_python(item)
        assert (listed["first_id"], listed["last_id"]) == (listed["data"][0]["id"], listed["data"][-1]["id"])
        page = (await client.get(f"/v1/responses/{rid}/input_items", params={"order": "asc", "limit": 2})).json()
        assert [i["content"][0]["text"] for i in page["data"]] == ["one", "two"] and page["has_more"] is True
        rest = (await client.get(f"/v1/responses/{rid}/input_items",
                                 params={"order": "asc", "after": page["last_id"]})).json()  # fmt: skip
        assert [i["content"][0]["text"] for i in rest["data"]] == ["three"] and rest["has_more"] is False
        for params in ({"limit": "0"}, {"limit": "x"}, {"order": "up"}, {"after": "msg_nope"}):
            error_of(await client.get(f"/v1/responses/{rid}/input_items", params=params), 400)


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool", ["web_search", "web_search_preview", "file_search", "computer_use_preview", "code_interpreter",
             "image_generation", "mcp", "local_shell"],
)  # fmt: skip
async def test_built_in_tools_are_refused_by_name(tool: str) -> None:
    engine = FakeEngine()
    error = error_of(await create(engine, {**BASIC, "tools": [WEATHER, {"type": tool}]}), 400)
    assert tool in error["message"] and error["param"] == "tools[1].type" and error["code"] == "unsupported_value"
    assert engine.requests == []


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"truncation": "auto"}, "truncation"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
         "input[0].content[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"input": []}, "input"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"temperature": 3}, "temperature"),
    ],
)  # fmt: skip
async def test_bad_or_unsupported_input_is_a_400_naming_the_field(extra: dict[str, Any], param: str) -> None:
    engine = FakeEngine()
    async with client_for(engine) as client:
        error = error_of(await client.post("/v1/responses", json={**BASIC, **extra}), 400)
        assert error["param"] == param, error
        assert error["type"] == "invalid_request_error"
        assert (await client.post("/v1/responses", json=BASIC)).status_code == 200  # still serving
    assert len(engine.requests) == 1


async def test_unknown_model_and_bad_json_bodies() -> None:
    error = error_of(await create(FakeEngine(), {**BASIC, "model": "nope"}), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    async with client_for(FakeEngine()) as client:
        error_of(await client.post("/v1/responses", content=b"{not json"), 400)
        error_of(await client.post("/v1/responses", json=[1, 2]), 400)
        error_of(await client.post("/v1/responses", json={"model": MODEL}), 400)


async def test_null_means_not_given() -> None:
    engine = FakeEngine()
    body = {**BASIC, "text": None, "store": None, "stream": None, "parallel_tool_calls": None, "tools": None,
            "tool_choice": None, "instructions": None, "temperature": None, "max_output_tokens": None}  # fmt: skip
    response = Response.model_validate((await create(engine, body)).json())
    assert response.store is True and response.parallel_tool_calls is True and response.output_text == "Hello world"
    assert engine.requests[0].max_tokens == 512


async def test_reasoning_and_unknown_fields_are_accepted_and_ignored() -> None:
    # As chat ignores `reasoning_effort`: no reasoning budget here, and the answer is unchanged.
    body = {**BASIC, "reasoning": {"effort": "low"}, "include": ["reasoning.encrypted_content"],
            "service_tier": "auto", "safety_identifier": "s", "prompt_cache_key": "k", "vendor_extension": 1}  # fmt: skip
    response = await create(FakeEngine(), body)
    assert response.status_code == 200 and Response.model_validate(response.json()).output_text == "Hello world"


async def test_api_key_guards_the_responses_routes() -> None:
    async with client_for(FakeEngine(), api_key="k") as client:
        error_of(await client.post("/v1/responses", json=BASIC), 401)
        error_of(await client.get("/v1/responses/resp_x"), 401)
        ok = await client.post("/v1/responses", json=BASIC, headers={"Authorization": "Bearer k"})
        assert ok.status_code == 200


@pytest.mark.parametrize(
    ("engine_param", "param"),
    [("tools[0].function.parameters", "tools[0].parameters"), ("response_format.json_schema.schema",
     "text.format.schema"), ("messages[3].tool_call_id", "input"), ("tool_choice", "tool_choice")],
)  # fmt: skip
async def test_engine_errors_name_the_responses_field(engine_param: str, param: str) -> None:
    engine = FakeEngine(start_error=InvalidRequest("bad", param=engine_param))
    for stream in (False, True):
        assert error_of(await create(engine, {**BASIC, "stream": stream}), 400)["param"] == param
