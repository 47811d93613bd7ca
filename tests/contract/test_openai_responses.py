"""The Responses API through the official `openai` SDK and the openai-agents SDK, against a real
`lazarus serve` running the embedded model (once per backend, as every contract test)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai.types.responses import Response

from tests.conftest import Serve
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

QUESTION = "What is the capital of France?"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather for a city",
           "parameters": WEATHER_SCHEMA, "strict": True}  # fmt: skip
FORCE_WEATHER = {"type": "function", "name": "get_weather"}


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    # One thread: on a shared 2-core machine, llama.cpp's spinning threads slow down 10x or more
    # when another process holds a core.
    process = serve("--threads", "1", "--parallel", "2")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


@pytest.fixture
def llama_cpp_only(backend: str) -> None:
    """Protocol behaviour that does not depend on the backend runs once, on llama.cpp, to keep this
    file near two minutes; the transformers run keeps text, streaming and the json_schema grammar."""
    if backend != "llama.cpp":
        pytest.skip("backend-independent protocol behaviour: run on llama.cpp only")


def check(response: Response) -> Response:
    """The SDK parses leniently; validate strictly so a missing or mistyped field fails here."""
    return Response.model_validate(response.to_dict())


def test_create_answers_with_text_usage_and_is_stored(client: openai.OpenAI, model: str) -> None:
    response = check(client.responses.create(model=model, input=QUESTION, temperature=0, max_output_tokens=24,
                                             instructions="Answer in one sentence.", metadata={"t": "1"}))  # fmt: skip
    assert response.id.startswith("resp_") and response.object == "response" and response.model == model
    assert response.status == "completed" and "Paris" in response.output_text
    assert response.instructions == "Answer in one sentence." and response.metadata == {"t": "1"}
    usage = response.usage
    assert usage is not None and usage.input_tokens > 10 and 0 < usage.output_tokens <= 24
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert check(client.responses.retrieve(response.id)).output_text == response.output_text


def test_stream_events_in_order_and_deltas_join_to_the_final_text(client: openai.OpenAI, model: str) -> None:
    with client.responses.stream(model=model, input=QUESTION, temperature=0, max_output_tokens=24) as stream:
        events = list(stream)
        final = check(stream.get_final_response())
    kinds = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]  # fmt: skip
    assert kinds[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas) and deltas
    assert kinds[4 + len(deltas) :] == ["response.output_text.done", "response.content_part.done",
                                        "response.output_item.done", "response.completed"]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(d.delta for d in deltas)
    assert text == final.output_text and "Paris" in text
    assert {d.item_id for d in deltas} == {final.output[0].id}
    assert check(client.responses.retrieve(final.id)).output_text == text


@pytest.mark.usefixtures("llama_cpp_only")
def test_tool_round_trip_through_previous_response_id(client: openai.OpenAI, model: str) -> None:
    first = check(client.responses.create(model=model, input="What's the weather in Paris?", tools=[WEATHER],
                                          tool_choice=FORCE_WEATHER, temperature=0, max_output_tokens=60))  # type: ignore[arg-type]  # fmt: skip
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id.startswith("call_")
    jsonschema.validate(json.loads(call.arguments), WEATHER_SCHEMA)
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees and sunny"}
    second = check(client.responses.create(model=model, previous_response_id=first.id, input=[result],  # type: ignore[list-item]
                                           tools=[WEATHER], tool_choice="none", temperature=0,  # type: ignore[list-item]
                                           max_output_tokens=30))  # fmt: skip
    assert second.previous_response_id == first.id and second.output[0].type == "message"
    assert second.output_text.strip()
    # The earlier turn was prepended: the same prompt as the whole conversation sent explicitly.
    question = {"role": "user", "content": "What's the weather in Paris?"}
    explicit = client.responses.create(model=model, input=[question, call.to_dict(), result], tools=[WEATHER],  # type: ignore[list-item]
                                       tool_choice="none", max_output_tokens=1, store=False)  # fmt: skip
    assert second.usage is not None and explicit.usage is not None
    assert second.usage.input_tokens == explicit.usage.input_tokens
    # Listed as OpenAI lists a continuation's input: every item of the conversation, newest first.
    listed = client.responses.input_items.list(second.id)
    assert [item.type for item in listed.data] == ["function_call_output", "function_call", "message"]


@pytest.mark.usefixtures("llama_cpp_only")
def test_tool_round_trip_with_explicit_items_streamed_first(client: openai.OpenAI, model: str) -> None:
    question = {"role": "user", "content": "What's the weather in Paris?"}
    with client.responses.stream(model=model, input=[question], tools=[WEATHER], tool_choice=FORCE_WEATHER,  # type: ignore[list-item,arg-type]
                                 temperature=0, max_output_tokens=60, store=False) as stream:  # fmt: skip
        events = list(stream)
        first = check(stream.get_final_response())
    (call,) = first.output
    assert call.type == "function_call"
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done",
                          "response.completed"]  # fmt: skip
    streamed = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert streamed == call.arguments == events[-3].arguments  # type: ignore[union-attr]
    jsonschema.validate(json.loads(call.arguments), WEATHER_SCHEMA)
    with pytest.raises(openai.NotFoundError):  # store=False: kept nowhere
        client.responses.retrieve(first.id)
    items: list[Any] = [question, call.to_dict(),
                        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees and sunny"}]  # fmt: skip
    second = check(client.responses.create(model=model, input=items, tools=[WEATHER], tool_choice="none",  # type: ignore[list-item]
                                           temperature=0, max_output_tokens=30))  # fmt: skip
    assert second.status in ("completed", "incomplete") and second.output_text.strip()


def test_json_schema_text_format_validates(client: openai.OpenAI, model: str) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}, "country": {"type": "string", "maxLength": 30}},
        "required": ["city", "country"],
        "additionalProperties": False,
    }
    response = check(client.responses.create(
        model=model, input="Name a city and its country as JSON.", temperature=0, max_output_tokens=80,
        text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
    ))  # fmt: skip
    assert response.status == "completed"
    jsonschema.validate(json.loads(response.output_text), schema)
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"


@pytest.mark.usefixtures("llama_cpp_only")
def test_get_input_items_delete_then_404(client: openai.OpenAI, model: str) -> None:
    created = client.responses.create(model=model, input=[{"role": "user", "content": "Hi"}], max_output_tokens=4)
    assert check(client.responses.retrieve(created.id)).id == created.id
    listed = client.responses.input_items.list(created.id)
    assert len(listed.data) == 1 and listed.data[0].type == "message"
    assert listed.data[0].content[0].text == "Hi"  # type: ignore[union-attr]
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=model, input="Hi", previous_response_id=created.id, max_output_tokens=4)


@pytest.mark.usefixtures("llama_cpp_only")
@pytest.mark.parametrize(
    "body",
    [
        {"tools": [{"type": "web_search"}]},
        {"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
        {"background": True},
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
        {"tool_choice": "required"},
        {"text": {"format": {"type": "json_schema", "name": "x"}}},
        {"max_output_tokens": -1},
    ],
)
def test_bad_input_is_a_400_and_the_server_keeps_serving(
    client: openai.OpenAI, server: LazarusProcess, model: str, body: dict[str, Any]
) -> None:
    raw = httpx.post(f"{server.base_url}/v1/responses", json={"model": model, "input": "Hi", **body}, timeout=60)
    assert raw.status_code == 400, raw.text
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=model, **{"input": "Hi", **body})
    assert client.responses.create(model=model, input="Hi", max_output_tokens=2).status in ("completed", "incomplete")


@pytest.mark.usefixtures("llama_cpp_only")
def test_openai_agents_runs_a_function_tool_streamed_and_not(server: LazarusProcess, model: str) -> None:
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    cities: list[str] = []

    # Offered until it has been called, so the turn after the call has no tool to call again (this
    # tiny model, left to choose, calls it forever) and must answer.
    @agents.function_tool(is_enabled=lambda _ctx, _agent: not cities)
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        cities.append(city)
        return f"It is 18 degrees and sunny in {city}."

    async def run(streamed: bool) -> Any:
        client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)
        agent = agents.Agent(
            name="weather",
            instructions="Answer questions about the weather.",
            tools=[get_weather],
            model=agents.OpenAIResponsesModel(model=model, openai_client=client),
            model_settings=agents.ModelSettings(tool_choice="get_weather", temperature=0, max_tokens=40),
        )
        try:
            if not streamed:
                return await agents.Runner.run(agent, "What is the weather in Paris?", max_turns=3)
            run = agents.Runner.run_streamed(agent, "What is the weather in Paris?", max_turns=3)
            async for _event in run.stream_events():  # through our SSE events, parsed by the SDK
                pass
            return run
        finally:
            await client.close()

    for streamed in (False, True):
        cities.clear()
        result = asyncio.run(run(streamed))
        assert len(cities) == 1 and cities[0].strip()
        kinds = [item.type for item in result.new_items]
        assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"], kinds
        assert isinstance(result.final_output, str) and result.final_output.strip()
        assert len(result.raw_responses) == 2


@pytest.mark.usefixtures("llama_cpp_only")
@pytest.mark.parametrize("api", ["responses", "chat_completions"])
def test_openai_agents_loop_ends_with_an_answer_within_4_turns(server: LazarusProcess, model: str, api: str) -> None:
    # As a user writes it: one tool, `tool_choice="required"`, nothing else. The SDK resets the tool
    # choice to auto after the first call (`Agent.reset_tool_choice`), and the tool stays offered: the
    # model must choose to answer once the result is back (issue 16's agent loops), not call again
    # until `MaxTurnsExceeded`.
    agents = pytest.importorskip("agents")
    agents.set_tracing_disabled(True)
    cities: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        cities.append(city)
        return f"It is 18 degrees and sunny in {city}."

    async def run() -> Any:
        client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)
        kind = agents.OpenAIResponsesModel if api == "responses" else agents.OpenAIChatCompletionsModel
        agent = agents.Agent(
            name="weather",
            instructions="Answer questions about the weather.",
            tools=[get_weather],
            model=kind(model=model, openai_client=client),
            model_settings=agents.ModelSettings(tool_choice="required", temperature=0, max_tokens=60),
        )
        try:
            return await agents.Runner.run(agent, "What is the weather in Paris?", max_turns=4)
        finally:
            await client.close()

    result = asyncio.run(run())
    assert cities and all(city.strip() for city in cities)
    assert isinstance(result.final_output, str) and result.final_output.strip()
    assert len(result.raw_responses) <= 4
