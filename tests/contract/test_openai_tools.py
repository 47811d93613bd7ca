"""Tool calling and structured outputs through the official openai SDK against a real `lazarus serve`."""

from __future__ import annotations

import json
import subprocess

import jsonschema
import openai
import pytest

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": WEATHER_SCHEMA},
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_current_time", "description": "Get the current time",
                 "parameters": {"type": "object", "properties": {}, "required": []}},
}  # fmt: skip


@pytest.fixture(scope="module")
def exact(lazarus_exact_server: LazarusProcess) -> tuple[openai.OpenAI, str]:
    client = openai.OpenAI(base_url=f"{lazarus_exact_server.base_url}/v1", api_key="x", max_retries=0, timeout=600)
    return client, client.models.list().data[0].id


@pytest.fixture(scope="module")
def default(lazarus_openai_server: LazarusProcess) -> tuple[openai.OpenAI, str]:
    client = openai.OpenAI(base_url=f"{lazarus_openai_server.base_url}/v1", api_key="x", max_retries=0, timeout=600)
    return client, client.models.list().data[0].id


def test_required_tool_call_validates_and_streams_identically(exact: tuple[openai.OpenAI, str]) -> None:
    client, model = exact
    kwargs = dict(model=model, messages=[{"role": "user", "content": "What's the weather in Paris?"}],
                  tools=[WEATHER_TOOL], tool_choice="required", temperature=0, max_tokens=80)  # fmt: skip
    response = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)

    chunks = list(client.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    first = deltas[0]
    assert (first.index, first.id, first.type, first.function.name) == (0, first.id, "function", "get_weather")
    assert first.id and first.id.startswith("call_")
    assert all(d.index == 0 for d in deltas) and all(d.id is None for d in deltas[1:])
    assert "".join(d.function.arguments or "" for d in deltas) == call.function.arguments
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_named_tool_choice_and_parallel_false(default: tuple[openai.OpenAI, str]) -> None:
    client, model = default
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Rome and the time, please."}],
        tools=[TIME_TOOL, WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, temperature=0, max_tokens=80,
    )  # fmt: skip
    calls = response.choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    jsonschema.validate(json.loads(calls[0].function.arguments), WEATHER_SCHEMA)


def test_tool_choice_none_never_calls(default: tuple[openai.OpenAI, str]) -> None:
    client, model = default
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "What time is it?"}], tools=[TIME_TOOL],
        tool_choice="none", temperature=0, max_tokens=30,
    )  # fmt: skip
    assert not response.choices[0].message.tool_calls
    assert response.choices[0].finish_reason in ("stop", "length")


def test_full_round_trip_call_result_answer(default: tuple[openai.OpenAI, str]) -> None:
    client, model = default
    messages: list[dict[str, object]] = [{"role": "user", "content": "What time is it?"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=[TIME_TOOL],  # type: ignore[arg-type]
                                           tool_choice="required", temperature=0, max_tokens=40)  # fmt: skip
    (call,) = first.choices[0].message.tool_calls or []
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "14:32 UTC"})
    final = client.chat.completions.create(model=model, messages=messages, tools=[TIME_TOOL],  # type: ignore[arg-type]
                                           temperature=0, max_tokens=40)  # fmt: skip
    assert final.choices[0].finish_reason in ("stop", "length", "tool_calls")
    assert final.choices[0].message.content or final.choices[0].message.tool_calls


def test_tool_result_for_an_unknown_call_is_a_400(default: tuple[openai.OpenAI, str]) -> None:
    client, model = default
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, tools=[TIME_TOOL], messages=[
            {"role": "user", "content": "time?"},
            {"role": "tool", "tool_call_id": "call_nowhere", "content": "14:32"},
        ])  # fmt: skip
    assert "call_nowhere" in str(info.value)


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": 5}}}]},
         "tools"),
        ({"tools": [TIME_TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ],
)  # fmt: skip
def test_bad_tool_input_names_the_field(default: tuple[openai.OpenAI, str], extra: dict[str, object], param: str) -> None:
    client, model = default
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], **extra)  # type: ignore[call-overload]
    assert param in (info.value.body["param"] or "")  # type: ignore[index]


def test_json_schema_response_format(default: tuple[openai.OpenAI, str]) -> None:
    client, model = default
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30},
              "age": {"type": "integer", "minimum": 0, "maximum": 150}}, "required": ["name", "age"]}  # fmt: skip
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Invent a person."}], temperature=0, max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )  # fmt: skip
    jsonschema.validate(json.loads(response.choices[0].message.content or ""), schema)
    obj = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Describe Paris as JSON."}], temperature=0,
        max_tokens=60, response_format={"type": "json_object"},
    )  # fmt: skip
    if obj.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)


def test_spec_get_current_time_curl_example(lazarus_openai_server: LazarusProcess) -> None:
    """The SPEC's tool-calling curl example, with the tool required (a 135M model may otherwise just talk)."""
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "What time is it?"}],
        "tools": [TIME_TOOL],
        "tool_choice": "required",
    }
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "600", f"{lazarus_openai_server.base_url}/v1/chat/completions",
         "-H", "Content-Type: application/json", "-d", json.dumps(body)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    choice = json.loads(out)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_current_time", "arguments": "{}"}
