"""A caller's own GBNF grammar (llama-server's `grammar` field) on the chat and legacy completion
endpoints, through the openai SDK (as `extra_body`, the way clients send server extensions)."""

from __future__ import annotations

import re

import openai
import pytest

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

MODEL = "smollm2-135m-instruct"
YES_NO = 'root ::= "yes" | "no"'
# A date, as llama.cpp's own grammar examples write one: character classes, repetition, a rule reference.
DATE = 'root ::= year "-" month "-" day\nyear ::= [12] [0-9] [0-9] [0-9]\nmonth ::= "0" [1-9] | "1" [0-2]\nday ::= "0" [1-9] | [12] [0-9] | "3" [01]'


@pytest.fixture(scope="module")
def client(lazarus_openai_server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{lazarus_openai_server.base_url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("stream", [False, True])
def test_chat_output_matches_the_grammar(client: openai.OpenAI, stream: bool) -> None:
    messages = [{"role": "user", "content": "Is Paris in France? Answer yes or no."}]
    if stream:
        chunks = client.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=16, stream=True, extra_body={"grammar": YES_NO}  # type: ignore[arg-type]
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        reply = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=16, extra_body={"grammar": YES_NO})  # type: ignore[arg-type]
        text = reply.choices[0].message.content or ""
        assert reply.choices[0].finish_reason == "stop"  # the grammar ended it, not max_tokens
    assert text in ("yes", "no")


def test_completion_output_matches_the_grammar(client: openai.OpenAI) -> None:
    reply = client.completions.create(
        model=MODEL, prompt="The first moon landing was on", max_tokens=24, temperature=0.9, seed=3,
        extra_body={"grammar": DATE},
    )  # fmt: skip
    assert re.fullmatch(r"[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", reply.choices[0].text)


def test_a_grammar_that_does_not_parse_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body={"grammar": 'root ::= "a'}
        )
    assert bad.value.body["param"] == "grammar"  # type: ignore[index]


def test_a_grammar_with_another_constraint_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as both:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"},
            extra_body={"grammar": YES_NO},
        )  # fmt: skip
    assert both.value.body["param"] == "grammar"  # type: ignore[index]
