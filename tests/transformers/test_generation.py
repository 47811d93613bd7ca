"""The transformers backend through ModelEngine: text, streaming, stops, seeds, grammars, batching."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import pytest

from chuk_lazarus.core.types import (
    ChatMessage,
    Finish,
    GenerationRequest,
    ResponseFormat,
    SamplingParams,
    TextDelta,
)
from chuk_lazarus.engine.engine import ModelEngine

GREEDY = SamplingParams(temperature=0.0)
PROMPTS = (
    "What is the capital of France?",
    "Name three colors.",
    "What is 2+2?",
    "Write a haiku about the sea.",
)


def chat(text: str, **kw: object) -> GenerationRequest:
    kw.setdefault("sampling", GREEDY)
    kw.setdefault("max_tokens", 24)
    return GenerationRequest(messages=(ChatMessage("user", text),), **kw)  # type: ignore[arg-type]


def test_model_info(hf_engine: ModelEngine) -> None:
    info = hf_engine.info
    assert info.backend == "transformers"
    assert info.file_format == "safetensors"
    assert info.architecture == "llama"
    assert info.quantization == "F32"  # float32 on CPU unless overridden
    assert "<|im_start|>" in info.chat_template
    assert 130_000_000 < info.parameter_count < 140_000_000


async def test_greedy_answer(hf_engine: ModelEngine) -> None:
    result = await hf_engine.agenerate(chat(PROMPTS[0], max_tokens=30))
    assert result.text == "The capital of France is Paris."
    assert result.finish.reason == "stop"
    assert result.finish.usage.completion_tokens == 8  # seven text tokens and <|im_end|>


async def test_streaming_equals_non_streaming(hf_engine: ModelEngine) -> None:
    request = chat(PROMPTS[3], max_tokens=20)
    pieces: list[str] = []
    finish = None
    async for event in hf_engine.astream(request):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        elif isinstance(event, Finish):
            finish = event
    whole = await hf_engine.agenerate(request)
    assert len(pieces) > 5
    assert "".join(pieces) == whole.text
    assert finish is not None and finish.reason == whole.finish.reason == "length"
    assert finish.usage.completion_tokens == 20


async def test_stop_string(hf_engine: ModelEngine) -> None:
    result = await hf_engine.agenerate(chat(PROMPTS[0], stop=(" Paris",)))
    assert result.text == "The capital of France is"
    assert result.finish.reason == "stop"
    assert result.finish.stop_sequence == " Paris"


async def test_seed_repeats_and_varies(hf_engine: ModelEngine) -> None:
    def seeded(seed: int) -> GenerationRequest:
        return chat("Tell me a story.", sampling=SamplingParams(temperature=1.0, seed=seed), max_tokens=24)

    first, again, other = [await hf_engine.agenerate(seeded(s)) for s in (7, 7, 8)]
    assert first.text == again.text
    assert first.text != other.text


async def test_logprobs(hf_engine: ModelEngine) -> None:
    result = await hf_engine.agenerate(chat(PROMPTS[0], logprobs=3, max_tokens=4))
    assert len(result.logprobs) == 4
    first = result.logprobs[0]
    assert first.token == "The" and first.logprob <= 0.0
    assert len(first.top) == 3
    assert first.top[0][0] == "The"  # greedy: the sampled token is the most likely one
    assert [t[1] for t in first.top] == sorted((t[1] for t in first.top), reverse=True)


async def test_logit_bias_bans_a_token(hf_engine: ModelEngine) -> None:
    banned = hf_engine.backend.tokenize("The")[0]
    result = await hf_engine.agenerate(
        chat(PROMPTS[0], sampling=SamplingParams(temperature=0.0, logit_bias={banned: -100.0}), max_tokens=6)
    )
    assert not result.text.startswith("The")


async def test_repeat_penalty_changes_output(hf_engine: ModelEngine) -> None:
    plain = await hf_engine.agenerate(chat("Count from one to twenty in words.", max_tokens=30))
    penalized = await hf_engine.agenerate(
        chat(
            "Count from one to twenty in words.",
            sampling=SamplingParams(temperature=0.0, repeat_penalty=1.5),
            max_tokens=30,
        )
    )
    assert plain.text != penalized.text


async def test_json_schema_is_enforced(hf_engine: ModelEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
        "required": ["name", "age", "city"],
    }
    result = await hf_engine.agenerate(
        chat("Describe a person.", response_format=ResponseFormat("json_schema", schema), max_tokens=80)
    )
    jsonschema.validate(json.loads(result.text), schema)
    assert result.finish.reason == "stop"


async def test_json_object_with_sampling(hf_engine: ModelEngine) -> None:
    for seed in (1, 2, 3):
        result = await hf_engine.agenerate(
            chat(
                "Give me some JSON.",
                response_format=ResponseFormat("json_object"),
                sampling=SamplingParams(temperature=1.0, seed=seed),
                max_tokens=120,
            )
        )
        if result.finish.reason == "stop":  # a long object may hit max_tokens; what exists is still valid
            assert isinstance(json.loads(result.text), dict)


async def test_concurrent_equals_alone(hf_engine: ModelEngine) -> None:
    requests = [chat(p, max_tokens=24) for p in PROMPTS]
    alone = [(await hf_engine.agenerate(r)).text for r in requests]
    together = await asyncio.gather(*(hf_engine.agenerate(r) for r in requests))
    assert [r.text for r in together] == alone


async def test_concurrent_with_staggered_starts(hf_engine: ModelEngine) -> None:
    """Sequences join and leave the decode batch at different lengths; each still matches its solo run."""
    requests = [chat(p, max_tokens=n) for p, n in zip(PROMPTS, (30, 5, 18, 12))]
    alone = [(await hf_engine.agenerate(r)).text for r in requests]

    async def later(i: int) -> str:
        await asyncio.sleep(0.15 * i)
        return (await hf_engine.agenerate(requests[i])).text

    assert list(await asyncio.gather(*(later(i) for i in range(4)))) == alone


async def test_cancellation_frees_the_sequence(hf_engine: ModelEngine) -> None:
    stream = hf_engine.astream(chat(PROMPTS[3], max_tokens=400))
    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()
    for _ in range(100):
        if hf_engine.load_stats().active == 0:
            break
        await asyncio.sleep(0.05)
    assert hf_engine.load_stats().active == 0
    # And the backend keeps serving.
    assert (await hf_engine.agenerate(chat(PROMPTS[0]))).text == "The capital of France is Paris."


@pytest.mark.parametrize(("bad", "syntax"), [("root ::= (", "gbnf"), ('start: "a" undefined_rule', "lark")])
def test_bad_grammar_is_an_invalid_request(hf_engine: ModelEngine, bad: str, syntax: str) -> None:
    from chuk_lazarus.core.errors import InvalidRequest
    from chuk_lazarus.core.grammar import Constraint

    with pytest.raises(InvalidRequest):
        hf_engine.backend.check_constraint(Constraint(bad, syntax=syntax))  # type: ignore[arg-type]
