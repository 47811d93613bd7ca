"""gpt-oss's harmony format end to end: the embedded model with a harmony chat template, through a real
`lazarus serve`, with a thinking budget and a constraint.

The template (tests/make_reasoning_gguf.py `HARMONY_TEMPLATE`) makes the server read the output as
harmony messages: an analysis message is reasoning, a final message the answer. SmolLM2 has no harmony
tokens, so its markup is text to this model, and it does not write the markup by itself: a constraint
or a budget does (the grammar holds the output to harmony messages). Left alone, greedy SmolLM2 picks
the final channel at once, so the tests nudge it towards an analysis message with a small logit bias on
the one token `analysis`, as a client could; what follows is the server's. What must hold: a JSON schema (or a required tool call) holds the final message only, after an
analysis message the budget ends; the server writes `<|end|><|start|>assistant<|channel|>final
<|message|>` when the budget is spent; no markup reaches a reasoning or content field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from tests.contract.server import LazarusProcess
from tests.contract.test_reasoning_e2e import CITY, QUESTION, reasoning_of, required_weather_call, serve_with_template
from tests.make_reasoning_gguf import HARMONY_TEMPLATE

pytestmark = [
    pytest.mark.contract,
    pytest.mark.backends(
        "llama.cpp", "transformers", reason="the vllm backend does not enforce a thinking budget yet"
    ),
]

BUDGET = 12
MODEL = "smollm2-harmony"
MARKUP = ("<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|call|>", "<|constrain|>")


@pytest.fixture(scope="module")
def server(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazarusProcess]:
    root = tmp_path_factory.mktemp("harmony-model")
    process = serve_with_template(
        backend, request, root, name=MODEL, template=HARMONY_TEMPLATE, protocols="openai,anthropic", budget=BUDGET
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def nudge(server: LazarusProcess) -> dict[str, Any]:
    """A logit bias that makes the model open an analysis message (request fields to add)."""
    tokens = httpx.post(f"{server.base_url}/tokenize", json={"content": "analysis"}, timeout=30).json()["tokens"]
    assert len(tokens) == 1
    return {"logit_bias": {str(tokens[0]): 2}}


def no_markup(*texts: str | None) -> bool:
    return not any(mark in (text or "") for text in texts for mark in MARKUP)


def city_format() -> Any:
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}}


def test_json_schema_holds_the_final_message_after_a_bounded_analysis(client: openai.OpenAI, nudge: dict[str, Any]) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=120, response_format=city_format(), **nudge  # type: ignore[arg-type]
    )
    choice = response.choices[0]
    reasoning = reasoning_of(choice.message)
    assert reasoning and reasoning.strip() and no_markup(reasoning, choice.message.content)
    assert choice.message.content is not None
    jsonschema.validate(json.loads(choice.message.content), CITY)
    assert choice.finish_reason == "stop"
    usage = response.usage
    assert usage is not None and usage.completion_tokens_details is not None
    # The budget counts the analysis message's tokens; the end and header the server writes follow.
    assert BUDGET <= usage.completion_tokens_details.reasoning_tokens <= BUDGET + 24


def test_without_an_analysis_the_schema_holds_the_final_message(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=120, response_format=city_format()  # type: ignore[arg-type]
    )
    choice = response.choices[0]
    assert not reasoning_of(choice.message) and choice.message.content is not None
    jsonschema.validate(json.loads(choice.message.content), CITY)


@pytest.mark.parametrize("constrained", [True, False])
def test_streamed_equals_whole(client: openai.OpenAI, nudge: dict[str, Any], constrained: bool) -> None:
    fields: dict[str, Any] = {"response_format": city_format()} if constrained else {}
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=80, **fields, **nudge)  # type: ignore[arg-type]
    reasoning, content = [], []
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=80, stream=True, **fields, **nudge  # type: ignore[arg-type]
    )
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
            content.append(delta.content or "")
    assert "".join(reasoning) == reasoning_of(whole.choices[0].message)
    assert "".join(content) == (whole.choices[0].message.content or "")


def test_a_budget_alone_ends_the_analysis(client: openai.OpenAI, nudge: dict[str, Any]) -> None:
    response = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=60, **nudge)  # type: ignore[arg-type]
    message = response.choices[0].message
    reasoning = reasoning_of(message)
    assert reasoning and no_markup(reasoning)
    assert not (message.content or "").lstrip().startswith(MARKUP)  # the final header is not content
    usage = response.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert BUDGET <= usage.completion_tokens_details.reasoning_tokens <= BUDGET + 24
    assert usage.completion_tokens > usage.completion_tokens_details.reasoning_tokens


def test_a_required_tool_call_after_the_analysis_parses_as_a_tool_call(client: openai.OpenAI, nudge: dict[str, Any]) -> None:
    choice = required_weather_call(client, MODEL, **nudge)
    assert reasoning_of(choice.message) and no_markup(reasoning_of(choice.message), choice.message.content)


def test_responses_text_format_holds_the_final_message(client: openai.OpenAI) -> None:
    # (The Responses API has no logit bias: the model goes to its final message at once.)
    response = client.responses.create(
        model=MODEL,
        input="What is the capital of France?",
        max_output_tokens=120,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}},
    )
    assert [item.type for item in response.output] == ["message"]
    jsonschema.validate(json.loads(response.output_text), CITY)
