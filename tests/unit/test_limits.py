"""The engine's bounds: max_tokens against the context, logit_bias against the vocabulary, list sizes,
schema sizes."""

from __future__ import annotations

import pytest

from chuk_lazarus.core.errors import ContextLengthExceeded, InvalidRequest
from chuk_lazarus.core.types import ChatMessage, GenerationRequest, ModelInfo, SamplingParams, ToolDefinition
from chuk_lazarus.engine import limits
from chuk_lazarus.tools.validate import check_schema

INFO = ModelInfo(name="m", path="-", backend="-", context_length=100, vocab_size=1000)


def test_max_tokens_until_full_is_the_room() -> None:  # Ollama num_predict -1 / -2
    assert limits.max_tokens_for(GenerationRequest(max_tokens=None), 30, 100) == 70


def test_a_default_is_cut_to_the_room_a_callers_value_is_refused() -> None:
    assert limits.max_tokens_for(GenerationRequest(max_tokens=512, max_tokens_is_default=True), 30, 100) == 70
    assert limits.max_tokens_for(GenerationRequest(max_tokens=70), 30, 100) == 70
    with pytest.raises(ContextLengthExceeded, match="max_tokens is too large: 71") as caught:
        limits.max_tokens_for(GenerationRequest(max_tokens=71), 30, 100)
    assert caught.value.param == "max_tokens" and "30 tokens" in caught.value.message


def test_a_prompt_that_fills_the_context_is_refused() -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        limits.max_tokens_for(GenerationRequest(max_tokens=None), 100, 100)
    assert caught.value.param == "messages"


@pytest.mark.parametrize(
    "bias,needle",
    [({1000: 1.0}, "1000"), ({-1: 1.0}, "-1"), ({5: 100.5}, "between"), ({5: float("nan")}, "between"),
     ({i: 1.0 for i in range(1025)}, "at most 1024")],
)  # fmt: skip
def test_logit_bias_out_of_bounds(bias: dict[int, float], needle: str) -> None:
    request = GenerationRequest(sampling=SamplingParams(logit_bias=bias))
    with pytest.raises(InvalidRequest, match=needle) as caught:
        limits.check_request(request, INFO)
    assert caught.value.param == "logit_bias"


def test_logit_bias_inside_the_vocabulary_passes() -> None:
    limits.check_request(GenerationRequest(sampling=SamplingParams(logit_bias={0: -100, 999: 100})), INFO)


@pytest.mark.parametrize(
    "request_,param",
    [(GenerationRequest(messages=(ChatMessage("user", "x"),) * 10_001), "messages"),
     (GenerationRequest(tools=tuple(ToolDefinition(f"t{i}") for i in range(257))), "tools"),
     (GenerationRequest(stop=tuple(str(i) for i in range(17))), "stop"),
     (GenerationRequest(stop=("x" * 1001,)), "stop[0]"), (GenerationRequest(n=17), "n"),
     (GenerationRequest(logprobs=21), "top_logprobs"), (GenerationRequest(messages=(ChatMessage("user", "x"),), max_tokens=0), "max_tokens"),
     (GenerationRequest(prompt="x", max_tokens=-1), "max_tokens")],
)  # fmt: skip
def test_list_and_number_bounds(request_: GenerationRequest, param: str) -> None:
    # (a raw prompt may ask for 0 tokens: /v1/completions scores a text with echo + logprobs so)
    with pytest.raises(InvalidRequest) as caught:
        limits.check_request(request_, INFO)
    assert caught.value.param == param


def _deep(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    "schema,needle",
    [(_deep(20), "deeper than 32"), ({"type": "string", "enum": list(range(1001))}, "1001 enum"),
     ({"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(5001)}}, "5001 properties")],
)  # fmt: skip
def test_schema_size_bounds(schema: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequest, match=needle):
        check_schema(schema, param="response_format.json_schema.schema")


def test_a_long_ref_chain_is_a_400_not_a_recursion_error() -> None:
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(3000)}
    defs["d3000"] = {"type": "string"}
    with pytest.raises(InvalidRequest):
        check_schema({"$ref": "#/$defs/d0", "$defs": defs}, param="p")
