"""The Ollama protocol in-process, against a scripted engine: exact objects, statuses and conversions.

Responses are also parsed with the official `ollama` client's pydantic types (through the client itself,
over an ASGI transport), so drift from what Ollama clients accept shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from chuk_lazarus.core.errors import ContextLengthExceeded, GenerationFailed, Overloaded
from chuk_lazarus.core.types import (
    Finish,
    ModelInfo,
    ResponseFormat,
    TextDelta,
    Timings,
    TokenLogprob,
    ToolCallArgsDelta,
    ToolCallStart,
    Usage,
)
from tests.fakes import MODEL, FakeEngine, make_app, text_events, tool_call_events

BASE = "http://lazarus.test"


def client_for(engine: FakeEngine, protocols: tuple[str, ...] = ("ollama",), **kwargs: Any) -> httpx.AsyncClient:
    app = make_app(engine, protocols, **kwargs)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE)


def ollama_client(engine: FakeEngine, **kwargs: Any) -> ollama.AsyncClient:
    app = make_app(engine, ("ollama",))
    return ollama.AsyncClient(host=BASE, transport=httpx.ASGITransport(app=app), **kwargs)


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


METRICS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration")


# ---- discovery ------------------------------------------------------------------------------------


async def test_root_says_ollama_is_running() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.get("/")
        assert r.status_code == 200 and r.text == "Ollama is running"
        head = await http.head("/")
        assert head.status_code == 200 and head.content == b""


async def test_version() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.get("/api/version")
        assert r.status_code == 200
        major, minor, _ = r.json()["version"].split(".")
        assert (int(major), int(minor)) >= (0, 5)
        assert (await http.head("/api/version")).status_code == 200


async def test_a_model_folder_is_listed_with_the_size_of_its_files(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 3000)
    (tmp_path / "config.json").write_text("{}")
    info = ModelInfo(name=MODEL, path=str(tmp_path), backend="transformers", context_length=2048,
                     architecture="llama", file_format="safetensors")  # fmt: skip
    client = ollama_client(FakeEngine(info=info))
    entry = (await client.list()).models[0]
    assert entry.size == 3002 and entry.details and entry.details.format == "safetensors"
    assert (await client.ps()).models[0].size == 3002


async def test_tags_show_ps_validate_with_the_ollama_client() -> None:
    client = ollama_client(FakeEngine())
    listed = await client.list()
    assert [m.model for m in listed.models] == [f"{MODEL}:latest"]
    entry = listed.models[0]
    assert entry.details and entry.details.format == "gguf" and entry.details.family == "llama"
    assert entry.details.parameter_size == "135M" and entry.details.quantization_level == "F16"
    assert entry.digest and len(entry.digest) == 64

    for name in (MODEL, f"{MODEL}:latest", MODEL.upper()):
        shown = await client.show(name)
        assert shown.capabilities == ["completion", "tools"]
        assert shown.modelinfo and shown.modelinfo["llama.context_length"] == 2048
        assert shown.modelinfo["general.architecture"] == "llama"
        assert shown.template == "{{ messages }}"
        assert shown.details and shown.details.family == "llama"

    running = await client.ps()
    assert running.models[0].model == f"{MODEL}:latest"
    assert running.models[0].context_length == 2048
    assert running.models[0].expires_at is not None


async def test_tags_list_the_served_name_with_its_tag() -> None:
    engine = FakeEngine(model_name="org/model:Q4_1")
    async with client_for(engine) as http:
        r = await http.get("/api/tags")
    assert r.json()["models"][0]["name"] == "org/model:Q4_1"


@pytest.mark.parametrize(
    ("model", "status", "error"),
    [
        ("nope", 404, "model 'nope' not found"),
        ("nope:7b", 404, "model 'nope:7b' not found"),
        ("", 400, "model is required"),
        ("../../etc/passwd", 400, "invalid model name"),
        ("/etc/passwd", 400, "invalid model name"),
    ],
)
async def test_model_names_rejected_in_ollamas_words(model: str, status: int, error: str) -> None:
    async with client_for(FakeEngine()) as http:
        for path, body in (
            ("/api/show", {"model": model}),
            ("/api/chat", {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
            ("/api/generate", {"model": model, "prompt": "hi"}),
        ):
            r = await http.post(path, json=body)
            assert r.status_code == status, path
            assert r.json() == {"error": error}


async def test_missing_model_field() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.post("/api/chat", json={"messages": []})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}


# ---- chat -----------------------------------------------------------------------------------------


async def test_chat_streams_ndjson_by_default() -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    objs = lines(r)
    assert [o["done"] for o in objs] == [False, False, True]
    assert "".join(o["message"]["content"] for o in objs) == "Hello world"
    assert all(o["model"] == MODEL and o["message"]["role"] == "assistant" for o in objs)
    assert objs[0]["created_at"].endswith("Z")
    final = objs[-1]
    assert final["done_reason"] == "stop"
    for key in METRICS:
        assert isinstance(final[key], int) and final[key] >= 0, key
    assert final["prompt_eval_count"] == 5 and final["eval_count"] == 2
    assert final["eval_duration"] > 0 and final["total_duration"] >= final["load_duration"]
    assert engine.streams[0].closed


async def test_chat_not_streaming_is_one_object() -> None:
    engine = FakeEngine()
    client = ollama_client(engine)
    response = await client.chat(MODEL, messages=[{"role": "user", "content": "hi"}], stream=False)
    assert response.message.role == "assistant" and response.message.content == "Hello world"
    assert response.done and response.done_reason == "stop"
    assert response.eval_count == 2 and response.prompt_eval_count == 5
    assert response.model == MODEL


async def test_chat_streaming_through_the_ollama_client() -> None:
    client = ollama_client(FakeEngine())
    parts = [p async for p in await client.chat(f"{MODEL}:latest", messages=[{"role": "user", "content": "hi"}], stream=True)]
    assert "".join(p.message.content or "" for p in parts) == "Hello world"
    assert parts[-1].done and parts[-1].model == f"{MODEL}:latest"


async def test_chat_request_conversion_and_ollama_defaults() -> None:
    engine = FakeEngine()
    body = {
        "model": MODEL,
        "stream": False,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }
    async with client_for(engine, default_max_tokens=77) as http:
        assert (await http.post("/api/chat", json=body)).status_code == 200
    req = engine.requests[0]
    assert [(m.role, m.content) for m in req.messages] == [("system", "be brief"), ("user", "hi")]
    assert req.max_tokens == 77
    assert (req.sampling.temperature, req.sampling.top_p, req.sampling.top_k) == (0.8, 0.9, 40)
    assert req.sampling.repeat_penalty == 1.1
    assert req.response_format == ResponseFormat("text") and req.tools == () and req.logprobs is None


async def test_options_are_mapped_and_unknown_ones_ignored() -> None:
    engine = FakeEngine()
    options = {
        "temperature": 0, "top_p": 0.5, "top_k": 7, "num_predict": 12, "stop": ["\n", "user:"], "seed": 42,
        "num_ctx": 8192, "repeat_penalty": 1.3, "presence_penalty": 0.4, "frequency_penalty": 0.2, "min_p": 0.05,
        "mirostat": 1, "num_gpu": 99, "made_up_option": "x",
    }  # fmt: skip
    async with client_for(engine) as http:
        r = await http.post("/api/generate", json={"model": MODEL, "prompt": "hi", "stream": False, "options": options})
    assert r.status_code == 200
    req = engine.requests[0]
    s = req.sampling
    assert (s.temperature, s.top_p, s.top_k, s.seed, s.repeat_penalty) == (0, 0.5, 7, 42, 1.3)
    assert (s.presence_penalty, s.frequency_penalty, s.min_p) == (0.4, 0.2, 0.05)
    assert req.max_tokens == 12 and req.stop == ("\n", "user:")


@pytest.mark.parametrize(("num_predict", "expected"), [(-1, None), (-2, None), (1, 1)])
async def test_num_predict_unbounded_values(num_predict: int, expected: int | None) -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        body = {"model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": num_predict}}
        assert (await http.post("/api/generate", json=body)).status_code == 200
    assert engine.requests[0].max_tokens == expected


async def test_bad_option_type_is_a_400() -> None:
    async with client_for(FakeEngine()) as http:
        body = {"model": MODEL, "prompt": "hi", "options": {"temperature": "hot"}}
        r = await http.post("/api/generate", json=body)
    assert r.status_code == 400 and "temperature" in r.json()["error"]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", ResponseFormat("json_object")),
        ("", ResponseFormat("text")),
        ({"type": "object", "properties": {"a": {"type": "integer"}}}, ResponseFormat(
            "json_schema", {"type": "object", "properties": {"a": {"type": "integer"}}})),
    ],
)  # fmt: skip
async def test_format_maps_to_constrained_decoding(fmt: Any, expected: ResponseFormat) -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "format": fmt, "stream": False}
        assert (await http.post("/api/chat", json=body)).status_code == 200
    assert engine.requests[0].response_format == expected


async def test_unknown_format_is_a_400() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [], "format": "xml"})
    assert r.status_code == 400 and "format" in r.json()["error"]


# ---- tools ------------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_tools_reach_the_engine_and_calls_come_back_with_object_arguments() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ['{"ci', 'ty": "Paris"}']))
    client = ollama_client(engine)
    response = await client.chat(MODEL, messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL])
    req = engine.requests[0]
    assert [t.name for t in req.tools] == ["get_weather"]
    assert req.tools[0].parameters["required"] == ["city"]
    assert req.tool_choice.mode == "auto"
    calls = response.message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == {"city": "Paris"}
    assert response.done_reason == "stop"


async def test_streamed_tool_call_is_sent_whole() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ['{"city"', ': "Paris"}']))
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "w?"}], "tools": [WEATHER_TOOL]}
        objs = lines(await http.post("/api/chat", json=body))
    with_calls = [o for o in objs if o["message"].get("tool_calls")]
    assert len(with_calls) == 1 and not with_calls[0]["done"]
    call = with_calls[0]["message"]["tool_calls"][0]
    assert call["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}
    assert call["id"] == "call_test1"
    assert objs[-1]["done"] and objs[-1]["done_reason"] == "stop"


async def test_unparseable_tool_arguments_stay_visible_as_text() -> None:
    engine = FakeEngine(events=tool_call_events("get_weather", ["not json"]))
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "w?"}], "stream": False}
        message = (await http.post("/api/chat", json=body)).json()["message"]
    assert "tool_calls" not in message and "not json" in message["content"]


async def test_python_function_as_a_tool() -> None:
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
          a: the first
          b: the second
        """
        return a + b

    engine = FakeEngine(events=tool_call_events("add", ['{"a": 2, "b": 3}']))
    client = ollama_client(engine)
    response = await client.chat(MODEL, messages=[{"role": "user", "content": "2+3?"}], tools=[add], stream=False)
    tool = engine.requests[0].tools[0]
    assert tool.name == "add" and set(tool.parameters["properties"]) == {"a", "b"}
    assert None not in tool.parameters.values()
    call = response.message.tool_calls[0]  # type: ignore[index]
    assert add(**call.function.arguments) == 5


async def test_tool_results_are_matched_to_their_calls_by_name() -> None:
    engine = FakeEngine()
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        ]},
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
        {"role": "tool", "content": "25C", "tool_name": "get_weather"},
    ]  # fmt: skip
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": messages, "tools": [WEATHER_TOOL], "stream": False}
        assert (await http.post("/api/chat", json=body)).status_code == 200
    assistant, first, second = engine.requests[0].messages[1:]
    assert [json.loads(c.arguments) for c in assistant.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert assistant.content is None
    assert (first.role, first.content, first.name) == ("tool", "18C", "get_weather")
    assert first.tool_call_id == assistant.tool_calls[0].id
    assert second.tool_call_id == assistant.tool_calls[1].id


# ---- generate -----------------------------------------------------------------------------------------


async def test_generate_streams_responses() -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        r = await http.post("/api/generate", json={"model": MODEL, "prompt": "hi", "system": "be brief"})
    objs = lines(r)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert "".join(o["response"] for o in objs) == "Hello world"
    assert objs[-1]["done"] and objs[-1]["done_reason"] == "stop" and objs[-1]["response"] == ""
    req = engine.requests[0]
    assert req.prompt is None
    assert [(m.role, m.content) for m in req.messages] == [("system", "be brief"), ("user", "hi")]


async def test_generate_through_the_ollama_client() -> None:
    engine = FakeEngine(events=text_events("4", reason="length"))
    client = ollama_client(engine)
    response = await client.generate(MODEL, "2+2=", raw=True, options={"num_predict": 1})
    assert response.response == "4" and response.done_reason == "length"
    assert engine.requests[0].prompt == "2+2=" and engine.requests[0].messages == ()
    parts = [p async for p in await client.generate(MODEL, "2+2=", stream=True)]
    assert parts[-1].done and "".join(p.response or "" for p in parts) == "4"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"raw": True, "system": "x"}, "raw mode"),
        ({"template": "{{ .Prompt }}"}, "template"),
        ({"suffix": "end"}, "insert"),
        ({"context": [1, 2, 3]}, "context"),
        ({"images": ["aGVsbG8="]}, "image"),
    ],
)
async def test_generate_refuses_what_it_cannot_honour(extra: dict[str, Any], fragment: str) -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.post("/api/generate", json={"model": MODEL, "prompt": "hi", **extra})
    assert r.status_code == 400 and fragment in r.json()["error"]


async def test_images_in_chat_are_refused_on_a_text_only_model() -> None:
    async with client_for(FakeEngine()) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "what is it?", "images": ["aGVsbG8="]}]}
        r = await http.post("/api/chat", json=body)
    assert r.status_code == 400 and "image" in r.json()["error"]


async def test_empty_requests_load_and_unload_as_ollama_does() -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        load = (await http.post("/api/chat", json={"model": MODEL, "messages": []})).json()
        unload = (await http.post("/api/generate", json={"model": MODEL, "keep_alive": 0})).json()
        unload2 = (await http.post("/api/chat", json={"model": MODEL, "messages": [], "keep_alive": "0s"})).json()
    assert load["done"] and load["done_reason"] == "load" and load["message"] == {"role": "assistant", "content": ""}
    assert unload["done_reason"] == "unload" and unload["response"] == ""
    assert unload2["done_reason"] == "unload"
    assert engine.requests == []


async def test_keep_alive_and_think_are_accepted() -> None:
    engine = FakeEngine()
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False,
                "keep_alive": "5m", "think": False}  # fmt: skip
        assert (await http.post("/api/chat", json=body)).status_code == 200
        body["keep_alive"], body["think"] = -1, True
        # A model that cannot think is asked to: Ollama's own 400.
        refused = await http.post("/api/chat", json=body)
        assert refused.status_code == 400
        assert refused.json() == {"error": f'"{MODEL}" does not support thinking'}
    engine = FakeEngine(reasoning_format="think_tags")
    async with client_for(engine) as http:
        assert (await http.post("/api/chat", json=body)).status_code == 200


async def test_logprobs() -> None:
    lp = TokenLogprob("Hi", -0.1, (72, 105), top=(("Hi", -0.1, (72, 105)), ("Yo", -2.5, (89, 111))))
    engine = FakeEngine(events=[TextDelta("Hi", (lp,)), Finish("stop", Usage(3, 1))])
    async with client_for(engine) as http:
        body = {"model": MODEL, "prompt": "x", "stream": False, "logprobs": True, "top_logprobs": 2}
        r = (await http.post("/api/generate", json=body)).json()
    assert engine.requests[0].logprobs == 2
    assert r["logprobs"][0]["token"] == "Hi" and r["logprobs"][0]["top_logprobs"][1]["token"] == "Yo"


async def test_timings_are_reported_in_nanoseconds() -> None:
    finish = Finish("stop", Usage(9, 1), timings=Timings(prompt_ns=123_000, generation_ns=456_000))
    engine = FakeEngine(events=[TextDelta("x"), finish])
    async with client_for(engine) as http:
        r = (await http.post("/api/generate", json={"model": MODEL, "prompt": "x", "stream": False})).json()
    assert r["prompt_eval_duration"] == 123_000 and r["eval_duration"] == 456_000


# ---- embeddings and model management ----------------------------------------------------------------


async def test_embeddings_on_a_model_that_cannot_embed_are_a_clear_error() -> None:
    info = ModelInfo(name=MODEL, path="/m.gguf", backend="fake", context_length=64)  # embedding_length 0
    client = ollama_client(FakeEngine(info=info))
    with pytest.raises(ollama.ResponseError) as info:
        await client.embed(MODEL, "hello")
    assert info.value.status_code == 400 and "does not support embeddings" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        await client.embeddings(MODEL, "hello")
    assert "does not support embeddings" in info.value.error
    with pytest.raises(ollama.ResponseError) as info:
        await client.embed("other", "hello")
    assert info.value.status_code == 404


async def test_pull_of_the_served_model_succeeds_and_anything_else_is_refused() -> None:
    client = ollama_client(FakeEngine())
    assert (await client.pull(MODEL)).status == "success"
    statuses = [p.status async for p in await client.pull(f"{MODEL}:latest", stream=True)]
    assert statuses[-1] == "success"
    with pytest.raises(ollama.ResponseError) as info:
        await client.pull("llama3.2")
    assert info.value.status_code == 400 and "one model" in info.value.error


async def test_delete_copy_create_push_answer_in_ollamas_shape() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.request("DELETE", "/api/delete", json={"model": "llama3"})
        assert r.status_code == 404 and r.json() == {"error": "model 'llama3' not found"}
        r = await http.request("DELETE", "/api/delete", json={"model": MODEL})
        assert r.status_code == 400 and "cannot be deleted" in r.json()["error"]
        r = await http.post("/api/copy", json={"source": "llama3", "destination": "x"})
        assert r.status_code == 404
        r = await http.post("/api/copy", json={"source": MODEL, "destination": "x"})
        assert r.status_code == 400 and "copying" in r.json()["error"]
        r = await http.post("/api/create", json={"model": "mario", "from": MODEL})
        assert r.status_code == 400 and "creating" in r.json()["error"]
        r = await http.post("/api/push", json={"model": MODEL})
        assert r.status_code == 400
        assert (await http.head("/api/blobs/sha256:abc")).status_code == 404


# ---- errors ------------------------------------------------------------------------------------------


async def test_malformed_json_and_wrong_shapes() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and set(r.json()) == {"error"}
        r = await http.post("/api/chat", content=b"")
        assert r.status_code == 400 and set(r.json()) == {"error"}
        r = await http.post("/api/chat", json=[1, 2])
        assert r.status_code == 400
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]})
        assert r.status_code == 400 and "role" in r.json()["error"]
        r = await http.post("/api/chat", json={"model": MODEL, "messages": "hi"})
        assert r.status_code == 400


async def test_unknown_route_and_method() -> None:
    async with client_for(FakeEngine()) as http:
        r = await http.get("/api/nope")
        assert r.status_code == 404 and set(r.json()) == {"error"}
        r = await http.get("/api/chat")
        assert r.status_code == 405 and set(r.json()) == {"error"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Overloaded("server busy, please try again", retry_after=2), 503),
        (ContextLengthExceeded("too long"), 400),
        (GenerationFailed("boom"), 500),
        (RuntimeError("secret detail"), 500),
    ],
)
async def test_errors_before_the_first_line_are_plain_http_errors(error: Exception, status: int) -> None:
    async with client_for(FakeEngine(start_error=error)) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == status
    assert set(r.json()) == {"error"} and "secret" not in r.json()["error"]
    if status == 503:
        assert r.headers["retry-after"] == "2"


async def test_error_after_streaming_began_is_a_final_error_line() -> None:
    engine = FakeEngine(events=[TextDelta("partial")], mid_stream_error=GenerationFailed("backend died"))
    async with client_for(engine) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    objs = lines(r)
    assert r.status_code == 200
    assert objs[0]["message"]["content"] == "partial"
    assert objs[-1] == {"error": "backend died"}
    assert engine.streams[0].closed
    client = ollama_client(engine)
    with pytest.raises(ollama.ResponseError, match="backend died"):
        async for _ in await client.chat(MODEL, messages=[{"role": "user", "content": "hi"}], stream=True):
            pass


async def test_error_when_not_streaming_is_an_http_error() -> None:
    engine = FakeEngine(events=[TextDelta("partial")], mid_stream_error=GenerationFailed("backend died"))
    async with client_for(engine) as http:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False}
        r = await http.post("/api/chat", json=body)
    assert r.status_code == 500 and r.json() == {"error": "backend died"}


async def test_auth_with_bearer_key() -> None:
    engine = FakeEngine()
    async with client_for(engine, api_key="sekret") as http:
        r = await http.get("/api/tags")
        assert r.status_code == 401 and set(r.json()) == {"error"}
        r = await http.get("/api/tags", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await http.get("/api/tags", headers={"Authorization": "Bearer sekret"})
        assert r.status_code == 200
    app = make_app(engine, ("ollama",), api_key="sekret")
    client = ollama.AsyncClient(host=BASE, transport=httpx.ASGITransport(app=app),
                                headers={"Authorization": "Bearer sekret"})  # fmt: skip
    assert (await client.list()).models


async def test_served_alongside_openai() -> None:
    async with client_for(FakeEngine(), ("openai", "ollama")) as http:
        assert (await http.get("/v1/models")).json()["data"][0]["id"] == MODEL
        assert (await http.get("/api/tags")).json()["models"][0]["name"] == f"{MODEL}:latest"
        # Each protocol answers its own paths' errors in its own shape.
        assert set((await http.get("/api/nope")).json()) == {"error"}
        assert isinstance((await http.get("/v1/nope")).json()["error"], dict)
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
        assert lines(r)[-1]["done"]


async def test_client_streams_are_closed_when_the_response_ends() -> None:
    engine = FakeEngine(events=[ToolCallStart(0, "c1", "f"), ToolCallArgsDelta(0, "{}"), Finish("tool_calls", Usage(1, 1))])
    async with client_for(engine) as http:
        objs = lines(await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}))
    assert objs[0]["message"]["tool_calls"][0]["function"]["arguments"] == {}
    assert engine.streams[0].closed


async def test_nulls_are_treated_as_absent_as_go_does() -> None:
    engine = FakeEngine()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi", "images": None}], "stream": None,
            "options": None, "format": None, "logprobs": None, "top_logprobs": None, "think": None,
            "keep_alive": None, "tools": None}  # fmt: skip
    async with client_for(engine) as http:
        r = await http.post("/api/chat", json=body)
    assert r.status_code == 200 and lines(r)[-1]["done"]  # null stream: streams, like an absent one
    assert engine.requests[0].max_tokens == 512


async def test_failure_before_the_first_object_is_a_plain_http_error() -> None:
    # Ollama decides the status at its first write: nothing generated yet means a real HTTP error.
    from chuk_lazarus.core.errors import InvalidRequest

    engine = FakeEngine(events=[], mid_stream_error=InvalidRequest("the output constraint could not be compiled"))
    async with client_for(engine) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json() == {"error": "the output constraint could not be compiled"}
    assert engine.streams[0].closed
    engine = FakeEngine(events=[], mid_stream_error=TypeError("ctypes says no"))
    async with client_for(engine) as http:
        r = await http.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
    assert r.status_code == 500 and r.json() == {"error": "internal server error"}
