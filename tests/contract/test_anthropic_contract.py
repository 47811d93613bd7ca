"""The official `anthropic` SDK (and LangChain's ChatAnthropic) against a real
`lazarus serve --protocols anthropic` running the embedded model.

Recent SDK releases dropped `temperature` from `messages.create`'s signature (newer Claude models fix
it), so greedy decoding is asked for through `extra_body`, which is exactly what goes on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from anthropic.types import Message

from tests.conftest import Serve, exact_args
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

KEY = "anthropic-test-key"
GREEDY: dict[str, Any] = {"temperature": 0}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What's the weather like in Paris?"}]


@pytest.fixture(scope="module")
def server(serve: Serve) -> Iterator[LazarusProcess]:
    process = serve("--protocols", "anthropic", "--api-key", KEY, "--parallel", "2")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> anthropic.Anthropic:
    # Generous timeout: the test machine's few cores are shared with other suites.
    return anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def exact_client(backend: str, serve: Serve) -> Iterator[anthropic.Anthropic]:
    """A server whose numerics do not depend on batching or a cached prefix (see `exact_args` in
    conftest): for comparing exact texts across two requests."""
    process = serve("--protocols", "anthropic", *exact_args(backend, parallel=1))
    yield anthropic.Anthropic(base_url=process.base_url, api_key="unused", max_retries=0, timeout=300)
    process.stop()


@pytest.fixture(scope="module")
def model(client: anthropic.Anthropic) -> str:
    return client.models.list().data[0].id


def still_serving(client: anthropic.Anthropic, model: str) -> None:
    reply = client.messages.create(model=model, max_tokens=3, messages=QUESTION, extra_body=GREEDY)
    assert reply.content and reply.content[0].type == "text"


def text_of(message: Message) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


# ---- basics ------------------------------------------------------------------------------------


def test_models_list(
    client: anthropic.Anthropic, embedded_model_name: str, embedded_aliases: set[str]
) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert ids[0] == embedded_model_name and set(ids[1:]) == embedded_aliases and len(ids) == len(set(ids))
    assert page.data[0].type == "model" and page.data[0].display_name == embedded_model_name
    assert client.models.retrieve(embedded_model_name).id == embedded_model_name


def test_messages_create(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=40, messages=QUESTION, extra_body=GREEDY)
    Message.model_validate(message.model_dump())
    assert message.id.startswith("msg_") and message.role == "assistant" and message.model == model
    assert "Paris" in text_of(message)
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 10 and message.usage.output_tokens > 0
    assert message._request_id and message._request_id.startswith("req_")


def test_stream_final_message_equals_create(exact_client: anthropic.Anthropic) -> None:
    model = exact_client.models.list().data[0].id
    kwargs: dict[str, Any] = {
        "model": model, "max_tokens": 24, "messages": [{"role": "user", "content": "Count to ten."}], "extra_body": GREEDY,
    }  # fmt: skip
    whole = exact_client.messages.create(**kwargs)
    with exact_client.messages.stream(**kwargs) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1
    assert "".join(pieces) == text_of(final) == text_of(whole)
    assert final.stop_reason == whole.stop_reason
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_raw_stream_event_order(client: anthropic.Anthropic, model: str) -> None:
    events = list(
        client.messages.create(model=model, max_tokens=8, messages=QUESTION, stream=True, extra_body=GREEDY)
    )
    kinds = [e.type for e in events]  # the SDK drops `ping`
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}


def test_system_prompt(client: anthropic.Anthropic, model: str) -> None:
    system = "You are a pirate. Always answer like a pirate."
    # (SmolLM2's template writes a default system prompt when there is none, so compare two of ours.)
    with_system = client.messages.count_tokens(model=model, messages=QUESTION, system=system).input_tokens
    longer = client.messages.count_tokens(
        model=model, messages=QUESTION, system=system + " Never mention ships."
    )
    assert longer.input_tokens > with_system
    reply = client.messages.create(model=model, max_tokens=16, messages=QUESTION, extra_body=GREEDY,
                                   system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}])  # fmt: skip
    # It marked a cache breakpoint, so the prompt splits into what was computed and what was read.
    assert reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0) == with_system
    assert text_of(reply)


def test_cache_reads_are_reported_where_the_request_asked_for_caching(
    client: anthropic.Anthropic, model: str, backend: str
) -> None:
    system = "You are a careful librarian. " + " ".join(f"Shelf {i} holds books on topic {i}." for i in range(40))
    cached_system = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    counted = client.messages.count_tokens(model=model, messages=QUESTION, system=system).input_tokens
    first = client.messages.create(model=model, max_tokens=2, messages=QUESTION, extra_body=GREEDY,
                                   system=cached_system)  # type: ignore[arg-type]  # fmt: skip
    again = client.messages.create(model=model, max_tokens=2, messages=QUESTION, extra_body=GREEDY,
                                   system=cached_system)  # type: ignore[arg-type]  # fmt: skip
    for reply in (first, again):
        assert reply.usage.input_tokens + (reply.usage.cache_read_input_tokens or 0) == counted
    # The second time the whole prompt comes from the cache (llama.cpp keeps the logits at a prompt's
    # end too, so the same prompt again needs no decode before its first token; the transformers
    # backend keeps no prompt cache, and says so by reading nothing; vLLM's prefix cache holds whole
    # KV blocks, so it reads the prompt's full blocks: a multiple of the block size).
    read = counted if backend == "llama.cpp" else 0
    if backend == "vllm":
        read = again.usage.cache_read_input_tokens or 0
        assert 0 < read < counted and read % 16 == 0, read
    assert again.usage.cache_read_input_tokens == read and again.usage.input_tokens == counted - read
    with client.messages.stream(model=model, max_tokens=2, messages=QUESTION, extra_body=GREEDY,
                                system=cached_system) as stream:  # type: ignore[arg-type]  # fmt: skip
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == read and final.usage.input_tokens == counted - read
    # Without cache_control the client asked for no caching: every prompt token counts as input.
    plain = client.messages.create(model=model, max_tokens=2, messages=QUESTION, extra_body=GREEDY, system=system)
    assert plain.usage.input_tokens == counted and plain.usage.cache_read_input_tokens == 0


def test_stop_sequence(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=40, messages=QUESTION, extra_body=GREEDY,
                                     stop_sequences=["Paris"])  # fmt: skip
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "Paris"
    assert "Paris" not in text_of(message)


def test_max_tokens(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=3, messages=QUESTION, extra_body=GREEDY)
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


def test_count_tokens_matches_usage_and_counts_tools(client: anthropic.Anthropic, model: str) -> None:
    counted = client.messages.count_tokens(model=model, messages=QUESTION).input_tokens
    used = client.messages.create(
        model=model, max_tokens=2, messages=QUESTION, extra_body=GREEDY
    ).usage.input_tokens
    assert counted == used
    with_tools = client.messages.count_tokens(
        model=model, messages=QUESTION, tools=[WEATHER_TOOL]
    ).input_tokens  # type: ignore[list-item]
    assert with_tools > counted


def test_structured_output(client: anthropic.Anthropic, model: str) -> None:
    schema = {"type": "object", "properties": {"capital": {"type": "string"}}, "required": ["capital"]}
    message = client.messages.create(model=model, max_tokens=40, messages=QUESTION, extra_body=GREEDY,
                                     output_config={"format": {"type": "json_schema", "schema": schema}})  # fmt: skip
    jsonschema.validate(json.loads(text_of(message)), schema)


# ---- tools -------------------------------------------------------------------------------------


def forced_tool_call(client: anthropic.Anthropic, model: str) -> Message:
    return client.messages.create(model=model, max_tokens=60, messages=WEATHER_QUESTION, extra_body=GREEDY,
                                  tools=[WEATHER_TOOL], tool_choice={"type": "any"})  # type: ignore[list-item]  # fmt: skip


def test_tool_choice_any_gives_valid_tool_use(client: anthropic.Anthropic, model: str) -> None:
    message = forced_tool_call(client, model)
    assert message.stop_reason == "tool_use"
    calls = [b for b in message.content if b.type == "tool_use"]
    assert len(calls) >= 1
    call = calls[0]
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    assert isinstance(call.input, dict)
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])


def test_streamed_input_json_delta_joins_to_the_input(client: anthropic.Anthropic, model: str) -> None:
    fragments: list[str] = []
    with client.messages.stream(model=model, max_tokens=60, messages=WEATHER_QUESTION, extra_body=GREEDY,
                                tools=[WEATHER_TOOL], tool_choice={"type": "any"}) as stream:  # type: ignore[list-item]  # fmt: skip
        for event in stream:
            if event.type == "content_block_start":
                assert event.content_block.type == "tool_use" and event.content_block.input == {}
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                assert event.index == 0
                fragments.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    assert len(fragments) >= 1
    assert json.loads("".join(fragments)) == call.input
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])


def test_tool_choice_named_tool(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(model=model, max_tokens=60, messages=WEATHER_QUESTION, extra_body=GREEDY,
                                     tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"})  # type: ignore[list-item]  # fmt: skip
    call = next(b for b in message.content if b.type == "tool_use")
    assert call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER_TOOL["input_schema"])


def test_tool_result_round_trip(client: anthropic.Anthropic, model: str) -> None:
    first = forced_tool_call(client, model)
    call = next(b for b in first.content if b.type == "tool_use")
    messages: list[Any] = [
        *WEATHER_QUESTION,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees, sunny"}],
        },
    ]
    reply = client.messages.create(model=model, max_tokens=40, messages=messages, tools=[WEATHER_TOOL],  # type: ignore[list-item]
                                   tool_choice={"type": "none"}, extra_body=GREEDY)  # fmt: skip
    assert reply.stop_reason in ("end_turn", "max_tokens")
    assert text_of(reply) and not [b for b in reply.content if b.type == "tool_use"]


# ---- auth and bad input ------------------------------------------------------------------------


def test_auth_by_x_api_key(server: LazarusProcess, model: str) -> None:
    good = anthropic.Anthropic(base_url=server.base_url, api_key=KEY, max_retries=0)
    assert good.messages.count_tokens(model=model, messages=QUESTION).input_tokens > 0
    bad = anthropic.Anthropic(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(model=model, max_tokens=4, messages=QUESTION)  # type: ignore[arg-type]
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    bearer = httpx.post(f"{server.base_url}/v1/messages", headers={"authorization": f"Bearer {KEY}"},
                        json={"model": model, "max_tokens": 2, "messages": QUESTION}, timeout=300)  # fmt: skip
    assert bearer.status_code == 200
    missing = httpx.post(
        f"{server.base_url}/v1/messages", json={"model": model, "max_tokens": 2, "messages": QUESTION}
    )
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"messages": QUESTION}, 400, "invalid_request_error"),  # no max_tokens
        ({"max_tokens": 8, "messages": QUESTION, "temperature": 1.5}, 400, "invalid_request_error"),
        ({"max_tokens": 8, "messages": []}, 400, "invalid_request_error"),
        ({"max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_unknown", "content": "x"}]}]}, 400, "invalid_request_error"),
        ({"max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]},
         400, "invalid_request_error"),
        ({"max_tokens": 8, "messages": QUESTION, "model": "no-such-model"}, 404, "not_found_error"),
    ],
)  # fmt: skip
def test_bad_input_gives_anthropic_errors_and_the_server_keeps_serving(
    server: LazarusProcess,
    client: anthropic.Anthropic,
    model: str,
    body: dict[str, Any],
    status: int,
    kind: str,
) -> None:
    payload = {"model": model, **body}
    response = httpx.post(f"{server.base_url}/v1/messages", json=payload, headers={"x-api-key": KEY,
                          "anthropic-version": "2023-06-01"}, timeout=300)  # fmt: skip
    assert response.status_code == status, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == kind and error["error"]["message"]
    if "max_tokens" in payload:  # the SDK itself refuses to send a request without max_tokens
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(**{k: v for k, v in payload.items() if k != "temperature"},
                                   extra_body={k: v for k, v in payload.items() if k == "temperature"})  # fmt: skip
        assert info.value.status_code == status
    still_serving(client, model)


def test_beta_query_and_headers_are_accepted(
    server: LazarusProcess, client: anthropic.Anthropic, model: str
) -> None:
    message = client.beta.messages.create(model=model, max_tokens=4, messages=QUESTION, extra_body=GREEDY,  # type: ignore[arg-type]
                                          betas=["interleaved-thinking-2025-05-14"])  # fmt: skip
    assert message.content
    response = httpx.post(f"{server.base_url}/v1/messages?beta=true", headers={"x-api-key": KEY,
                          "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219"},
                          # Anthropic wants max_tokens above the thinking budget (a 400 otherwise); this
                          # model cannot think, so it answers at once and stops on its own.
                          json={"model": model, "max_tokens": 1100, "temperature": 0, "messages": QUESTION, "stream": True,
                                "thinking": {"type": "enabled", "budget_tokens": 1024},
                                "metadata": {"user_id": "u"}, "service_tier": "auto"}, timeout=300)  # fmt: skip
    assert response.status_code == 200 and "event: message_stop" in response.text
    counted = httpx.post(f"{server.base_url}/v1/messages/count_tokens?beta=true", headers={"x-api-key": KEY},
                         json={"model": model, "messages": QUESTION}, timeout=300)  # fmt: skip
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0


# ---- LangChain ---------------------------------------------------------------------------------


def test_langchain_chat_anthropic(server: LazarusProcess, model: str) -> None:
    chat_anthropic = pytest.importorskip("langchain_anthropic").ChatAnthropic
    llm = chat_anthropic(model=model, base_url=server.base_url, api_key=KEY, temperature=0, max_tokens=24,
                         max_retries=0)  # fmt: skip
    answer = llm.invoke("What is the capital of France?")
    assert "Paris" in answer.content
    assert answer.usage_metadata and answer.usage_metadata["input_tokens"] > 0
    chunks = list(llm.stream("What is the capital of France?"))
    assert "".join(c.content for c in chunks if isinstance(c.content, str)) == answer.content


# ---- all protocols from one process -----------------------------------------------------------


def test_three_protocols_from_one_process(lazarus_server: LazarusProcess, embedded_model_name: str) -> None:
    base = lazarus_server.base_url
    assert httpx.get(f"{base}/health").json()["protocols"] == ["openai", "ollama", "anthropic"]
    claude = anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0)
    assert text_of(claude.messages.create(model=embedded_model_name, max_tokens=4, messages=QUESTION,
                                          extra_body=GREEDY))  # fmt: skip
    openai_reply = httpx.post(f"{base}/v1/chat/completions", timeout=300,
                              json={"model": embedded_model_name, "max_tokens": 4, "messages": QUESTION}).json()  # fmt: skip
    assert openai_reply["object"] == "chat.completion"
    ollama_reply = httpx.post(f"{base}/api/chat", timeout=300, json={"model": embedded_model_name, "stream": False,
                              "messages": QUESTION, "options": {"num_predict": 4}}).json()  # fmt: skip
    assert ollama_reply.get("message", {}).get("role") == "assistant", ollama_reply
    # /v1/models is OpenAI's when both are served; Anthropic errors stay Anthropic-shaped.
    assert httpx.get(f"{base}/v1/models").json()["object"] == "list"
    bad = httpx.post(f"{base}/v1/messages", json={"model": embedded_model_name, "messages": QUESTION})
    assert bad.status_code == 400 and bad.json()["type"] == "error"
