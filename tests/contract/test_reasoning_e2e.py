"""Reasoning end to end: the embedded model with a reasoning chat template, through a real `lazarus
serve` and the official clients of all four APIs.

The model is the embedded SmolLM2 with a Qwen3-thinking-style template written in at test time
(tests/make_reasoning_gguf.py: a GGUF copy for llama.cpp; a safetensors folder copy for transformers).
Its generation prompt opens `<think>`, so what the model writes first is reasoning; SmolLM2 never
closes it itself, so the server's `--reasoning-budget` closes it after BUDGET tokens and the model
answers after the close marker. What must hold: the reasoning arrives in each protocol's reasoning
field, the answer in its content field, neither carries the tags; a JSON schema or a required tool
call applies to the answer only, after free reasoning; reasoning turned off gives none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import ollama
import openai
import pytest

from tests.contract.server import LazarusProcess
from tests.make_reasoning_gguf import REASONING_TEMPLATE, write_reasoning_gguf

pytestmark = [
    pytest.mark.contract,
    pytest.mark.backends(
        "llama.cpp", "transformers", reason="the vllm backend does not enforce a thinking budget yet"
    ),
]

BUDGET = 24
MODEL = "smollm2-think"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
TAGS = ("<think>", "</think>")
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"type": "string", "maxLength": 40}},
    "required": ["city", "country"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def reasoning_folder(source: Path, target: Path, *, template: str = REASONING_TEMPLATE) -> Path:
    """The safetensors folder with a reasoning template: weights linked, the template replaced."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name in ("tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
            continue
        (target / item.name).symlink_to(item.resolve())
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = template
    (target / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (target / "chat_template.jinja").write_text(template, encoding="utf-8")
    return target


def serve_with_template(
    backend: str, request: pytest.FixtureRequest, root: Path, *, name: str, template: str, protocols: str, budget: int
) -> LazarusProcess:
    """`lazarus serve` on the embedded weights with `template` as their chat template, served as `name`:
    a GGUF copy on llama.cpp, a safetensors folder copy on transformers."""
    if backend == "llama.cpp":
        model = write_reasoning_gguf(root / f"{name}.gguf", template=template)
        extra: list[str] = []
    else:
        model = reasoning_folder(request.getfixturevalue("smollm2_hf_folder"), root / name, template=template)
        extra = ["--backend", backend]
    return LazarusProcess(
        [*extra, "--model", str(model), "--served-model-name", name, "--protocols", protocols,
         "--parallel", "2", "--reasoning-budget", str(budget), "--temperature", "0"]  # fmt: skip
    )


def required_weather_call(client: openai.OpenAI, model: str, **extra: Any) -> Any:
    """A `tool_choice: required` weather request; asserts it came back as the one call, returns the choice."""
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=120,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
        **extra,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [call.function.name for call in calls][:1] == ["get_weather"]  # type: ignore[union-attr]
    assert isinstance(json.loads(calls[0].function.arguments)["city"], str)  # type: ignore[union-attr]
    return choice


@pytest.fixture(scope="module")
def server(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LazarusProcess]:
    root = tmp_path_factory.mktemp("reasoning-model")
    process = serve_with_template(
        backend, request, root, name=MODEL, template=REASONING_TEMPLATE, protocols="openai,ollama,anthropic", budget=BUDGET
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0, timeout=300)


def reasoning_of(message: Any) -> str | None:
    extra = message.model_extra or {}
    assert extra.get("reasoning_content") == extra.get("reasoning")  # both names carry the same text
    return extra.get("reasoning_content")


def untagged(reasoning: str, content: str = "") -> bool:
    """No markup in the reasoning, none opening the content. The reasoning ends at the first close
    marker, as in every reasoning parser: the small model, imitating its prompt, sometimes writes
    `</think>` again later in its answer, and that text stays content."""
    return not any(tag in reasoning for tag in TAGS) and not content.lstrip().startswith(TAGS)


def test_the_server_detects_the_reasoning_template(server: LazarusProcess) -> None:
    shown = httpx.post(f"{server.base_url}/api/show", json={"model": MODEL}, timeout=30).json()
    assert "thinking" in shown["capabilities"]


def test_openai_chat_reasoning_then_answer(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=80)  # type: ignore[arg-type]
    message = response.choices[0].message
    reasoning = reasoning_of(message)
    assert reasoning and reasoning.strip() and message.content and message.content.strip()
    assert untagged(reasoning, message.content)
    usage = response.usage
    assert usage is not None and usage.completion_tokens_details is not None
    # The budget counts the tokens inside the reasoning; the close marker the server writes follows them.
    assert BUDGET <= usage.completion_tokens_details.reasoning_tokens <= BUDGET + 8
    assert usage.completion_tokens > usage.completion_tokens_details.reasoning_tokens


def test_openai_stream_carries_the_same_reasoning_and_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=80)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=80, stream=True)  # type: ignore[arg-type]
    reasoning, content, order = [], [], []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        piece = (delta.model_extra or {}).get("reasoning_content")
        if piece:
            reasoning.append(piece)
            order.append("reasoning")
        if delta.content:
            content.append(delta.content)
            order.append("content")
    assert "".join(reasoning) == reasoning_of(whole.choices[0].message)
    assert "".join(content) == whole.choices[0].message.content
    assert order == sorted(order, key=lambda kind: kind != "reasoning")  # all reasoning before any content


def test_a_request_budget_overrides_the_servers(client: openai.OpenAI) -> None:
    # OpenRouter's `reasoning.max_tokens`, which several OpenAI clients send.
    response = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=60, extra_body={"reasoning": {"max_tokens": 6}}  # type: ignore[arg-type]
    )
    usage = response.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert 6 <= usage.completion_tokens_details.reasoning_tokens <= 6 + 8
    assert response.choices[0].message.content


def test_json_schema_applies_to_the_answer_after_free_reasoning(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,  # type: ignore[arg-type]
        max_tokens=120,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}},
    )
    message = response.choices[0].message
    reasoning = reasoning_of(message)
    assert reasoning and reasoning.strip() and untagged(reasoning)
    assert message.content is not None
    jsonschema.validate(json.loads(message.content), CITY)
    assert response.choices[0].finish_reason == "stop"


def test_a_gbnf_grammar_waits_for_the_reasoning(client: openai.OpenAI) -> None:
    # A llama.cpp-style `grammar` is not part of the reasoning grammar: it starts at the close marker.
    response = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=80, extra_body={"grammar": 'root ::= "Paris" | "Lyon"'}  # type: ignore[arg-type]
    )
    message = response.choices[0].message
    reasoning = reasoning_of(message)
    assert reasoning and reasoning.strip() and untagged(reasoning)
    assert message.content in ("Paris", "Lyon")


def test_a_required_tool_call_after_reasoning_parses_as_a_tool_call(client: openai.OpenAI) -> None:
    choice = required_weather_call(client, MODEL)
    reasoning = reasoning_of(choice.message)
    assert reasoning and untagged(reasoning)


def test_enable_thinking_false_gives_no_reasoning(client: openai.OpenAI) -> None:
    for extra in ({"chat_template_kwargs": {"enable_thinking": False}}, {"reasoning_effort": "none"}):
        response = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=40, extra_body=extra)  # type: ignore[arg-type]
        message = response.choices[0].message
        assert not reasoning_of(message), extra
        assert message.content and untagged("", message.content)
        assert response.usage is not None and response.usage.completion_tokens_details is not None
        assert response.usage.completion_tokens_details.reasoning_tokens == 0


def test_responses_api_reasoning_item_then_message(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="What is the capital of France?", max_output_tokens=80)
    kinds = [item.type for item in response.output]
    assert kinds == ["reasoning", "message"]
    reasoning = response.output[0]
    text = "".join(part.text for part in reasoning.content or [])  # type: ignore[union-attr]
    assert text.strip() and untagged(text, response.output_text) and response.output_text.strip()


def test_anthropic_thinking_block_then_text(server: LazarusProcess) -> None:
    client = anthropic.Anthropic(base_url=server.base_url, api_key="x", max_retries=0, timeout=300)
    message = client.messages.create(model=MODEL, max_tokens=80, messages=QUESTION)  # type: ignore[arg-type]
    kinds = [block.type for block in message.content]
    assert kinds == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.thinking.strip() and thinking.signature and text.text.strip()  # type: ignore[union-attr]
    assert untagged(thinking.thinking, text.text)  # type: ignore[union-attr]

    with client.messages.stream(model=MODEL, max_tokens=80, messages=QUESTION) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_message()
    assert [block.model_dump() for block in streamed.content] == [block.model_dump() for block in message.content]

    off = client.messages.create(
        model=MODEL, max_tokens=40, messages=QUESTION, thinking={"type": "disabled"}  # type: ignore[arg-type]
    )
    assert [block.type for block in off.content] == ["text"] and untagged("", off.content[0].text)  # type: ignore[union-attr]


def test_ollama_think_on_and_off(server: LazarusProcess) -> None:
    client = ollama.Client(host=server.base_url, timeout=300)
    on = client.chat(model=MODEL, messages=QUESTION, think=True, options={"num_predict": 80})
    assert on.message.thinking and on.message.thinking.strip() and on.message.content.strip()
    assert untagged(on.message.thinking, on.message.content)
    off = client.chat(model=MODEL, messages=QUESTION, think=False, options={"num_predict": 40})
    assert not off.message.thinking and off.message.content.strip() and untagged("", off.message.content)

    generated = client.generate(model=MODEL, prompt="What is the capital of France?", think=True, options={"num_predict": 80})
    assert generated.thinking and generated.response.strip() and untagged(generated.thinking, generated.response)


def test_a_reasoning_turn_sent_back_is_accepted(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=80)  # type: ignore[arg-type]
    message = first.choices[0].message
    history = [
        *QUESTION,
        {"role": "assistant", "content": message.content, "reasoning_content": reasoning_of(message)},
        {"role": "user", "content": "And of Italy?"},
    ]
    second = client.chat.completions.create(model=MODEL, messages=history, max_tokens=80)  # type: ignore[arg-type]
    assert second.choices[0].message.content and reasoning_of(second.choices[0].message)

