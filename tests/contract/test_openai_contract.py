"""The official `openai` SDK against a real `lazarus serve` running the embedded model."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.conftest import API_KEY
from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server(lazarus_openai_server: LazarusProcess) -> LazarusProcess:
    return lazarus_openai_server


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="lazarus", max_retries=0, timeout=600)


@pytest.fixture(scope="module")
def model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


@pytest.fixture(scope="module")
def exact(lazarus_exact_server: LazarusProcess) -> tuple[openai.OpenAI, str]:
    """A client of the server whose outputs do not depend on batch shape (see conftest), and its model."""
    client = openai.OpenAI(base_url=f"{lazarus_exact_server.base_url}/v1", api_key="x", max_retries=0, timeout=600)
    return client, client.models.list().data[0].id


def test_list_models_names_the_embedded_model(
    client: openai.OpenAI, embedded_model_name: str, embedded_aliases: set[str]
) -> None:
    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == embedded_model_name and set(ids[1:]) == embedded_aliases and len(ids) == len(set(ids))
    assert models.data[0].owned_by == "lazarus"


def test_non_streaming_chat_answers_with_real_usage(client: openai.OpenAI, model: str) -> None:
    response = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=40)
    ChatCompletion.model_validate(response.model_dump())
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert "Paris" in (choice.message.content or "")  # the 16-bit embedded model knows this one
    assert choice.finish_reason == "stop"
    assert response.model == model
    assert response.id.startswith("chatcmpl-")
    usage = response.usage
    assert usage is not None and usage.prompt_tokens > 10 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_text_equals_non_streamed_text(exact: tuple[openai.OpenAI, str]) -> None:
    client, model = exact
    kwargs = dict(model=model, messages=[{"role": "user", "content": "Count to ten."}], temperature=0, seed=7,
                  max_tokens=48)  # fmt: skip
    whole = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    chunks = list(client.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [whole.choices[0].finish_reason]


def test_seeded_sampling_is_reproducible(exact: tuple[openai.OpenAI, str]) -> None:
    client, model = exact
    kwargs = dict(model=model, messages=[{"role": "user", "content": "Tell me a story."}], temperature=0.9,
                  seed=1234, max_tokens=24)  # fmt: skip
    first = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    second = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    assert first.choices[0].message.content == second.choices[0].message.content


def test_stop_string_ends_text_and_never_leaks(exact: tuple[openai.OpenAI, str]) -> None:
    client, model = exact
    prompt = [{"role": "user", "content": "Tell me about the history of Rome."}]
    base = client.chat.completions.create(model=model, messages=prompt, temperature=0, max_tokens=40)
    text = base.choices[0].message.content or ""
    words = text.split(" ")
    assert len(words) > 4, text
    stop = " " + words[3]  # a stop string that occurs mid-answer, found from the answer itself
    expected = text[: text.index(stop)]
    stopped = client.chat.completions.create(model=model, messages=prompt, temperature=0, max_tokens=40, stop=[stop])
    assert stopped.choices[0].message.content == expected
    assert stopped.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(model=model, messages=prompt, temperature=0, max_tokens=40, stop=stop,
                                            stream=True)  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == expected


@pytest.mark.parametrize("limit", [1, 5])
def test_max_tokens_gives_length_with_exactly_that_many_tokens(client: openai.OpenAI, model: str, limit: int) -> None:
    prompt = [{"role": "user", "content": "Write a long essay about the history of Rome."}]
    response = client.chat.completions.create(model=model, messages=prompt, temperature=0, max_tokens=limit)
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == limit
    newer = client.chat.completions.create(model=model, messages=prompt, temperature=0,
                                           max_completion_tokens=limit)  # fmt: skip
    assert newer.usage is not None and newer.usage.completion_tokens == limit
    assert newer.choices[0].finish_reason == "length"


def test_n_two_returns_two_choices(exact: tuple[openai.OpenAI, str]) -> None:
    client, model = exact
    response = client.chat.completions.create(model=model, messages=QUESTION, n=2, temperature=0.8, seed=3,
                                              max_tokens=12)  # fmt: skip
    assert [c.index for c in response.choices] == [0, 1]
    assert all(c.finish_reason in ("stop", "length") for c in response.choices)
    assert response.usage is not None
    assert response.usage.completion_tokens >= 2
    stream = client.chat.completions.create(model=model, messages=QUESTION, n=2, temperature=0.8, seed=3,
                                            max_tokens=12, stream=True)  # fmt: skip
    texts = {0: "", 1: ""}
    finished = set()
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finished.add(choice.index)
    assert finished == {0, 1}
    assert texts == {c.index: c.message.content for c in response.choices}


def test_stream_include_usage_sends_a_final_usage_chunk(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=6,
                                                 stream=True, stream_options={"include_usage": True}))  # fmt: skip
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 6 and last.usage.prompt_tokens > 10
    assert all(c.usage is None for c in chunks[:-1])


def test_logprobs_are_real_log_probabilities(client: openai.OpenAI, model: str) -> None:
    response = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=5,
                                              logprobs=True, top_logprobs=3)  # fmt: skip
    content = response.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == 5
    for item in content:
        assert item.logprob <= 0.0
        assert len(item.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert item.top_logprobs[0].token == item.token
    assert "".join(i.token for i in content) == response.choices[0].message.content


def test_multi_turn_with_system_and_text_parts(client: openai.OpenAI, model: str) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Hi! "}, {"type": "text", "text": "Who are you?"}]},
        {"role": "assistant", "content": "An assistant."},
        {"role": "user", "content": "Say hello."},
    ]
    response = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=10)
    assert response.choices[0].message.content


def test_unknown_model_is_404_naming_the_served_model(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert model in str(info.value)
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_health_answers_while_a_request_is_in_flight(server: LazarusProcess, client: openai.OpenAI, model: str) -> None:
    started = threading.Event()
    done = threading.Event()

    def long_request() -> None:
        stream = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=300, stream=True,
                                                temperature=1.0, seed=1)  # fmt: skip
        for _ in stream:
            started.set()
        done.set()

    worker = threading.Thread(target=long_request)
    worker.start()
    assert started.wait(60)
    t0 = time.monotonic()
    health = httpx.get(f"{server.base_url}/health", timeout=5)
    elapsed = time.monotonic() - t0
    in_flight = not done.is_set()
    worker.join(120)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert in_flight, "the generation finished before /health was asked; make it longer"
    assert elapsed < 5


def test_auth_accepts_the_key_and_refuses_others(lazarus_auth_server: LazarusProcess) -> None:
    base = f"{lazarus_auth_server.base_url}/v1"
    good = openai.OpenAI(base_url=base, api_key=API_KEY, max_retries=0)
    assert good.models.list().data
    response = good.chat.completions.create(model=good.models.list().data[0].id, messages=QUESTION, max_tokens=3)
    assert response.choices[0].message.content is not None
    bad = openai.OpenAI(base_url=base, api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    missing = httpx.get(f"{base}/models")
    assert missing.status_code == 401 and "error" in missing.json()
    # /health stays open so probes work without the key.
    assert httpx.get(f"{lazarus_auth_server.base_url}/health").status_code == 200
