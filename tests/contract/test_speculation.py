"""Prompt-lookup drafting through a running `lazarus serve`, as an OpenAI client sees it: the same
answer with `--draft-max 0` and with drafting on (the default), streamed and not, with the usage the
tokens really took.

Q4_1 (see tests/conftest.py `exact_args`): its outputs do not depend on how many tokens a decode holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.contract.server import LazarusProcess

pytestmark = [
    pytest.mark.contract,
    pytest.mark.backends("llama.cpp", reason="prompt-lookup speculation is the llama.cpp backend's"),
]
MODEL = "smollm2-135m-instruct:q4_1"

PASSAGE = (
    "Fact 1: the owls of district 8 were counted at 44 in the spring survey. Fact 2: the rivers of "
    "district 9 were counted at 48 in the spring survey. Fact 3: the clocks of district 10 were counted "
    "at 52 in the spring survey."
)
QUESTIONS = (
    f"Repeat the following passage exactly, word for word:\n\n{PASSAGE}",
    f"Copy the following passage, then add one sentence at the end:\n\n{PASSAGE}",
)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LazarusProcess, LazarusProcess]]:
    args = ["--model", "smollm2-135m:q4_1", "--parallel", "2"]
    plain = LazarusProcess([*args, "--draft-max", "0"])
    try:
        drafted = LazarusProcess(args)
    except Exception:
        plain.stop()
        raise
    yield plain, drafted
    drafted.stop()
    plain.stop()


def answer(process: LazarusProcess, question: str) -> tuple[str, int, str]:
    client = openai.OpenAI(base_url=f"{process.base_url}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": question}]
    done = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=64, temperature=0  # type: ignore[arg-type]
    )
    streamed, usage = [], None
    for chunk in client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=64, temperature=0,  # type: ignore[arg-type]
        stream=True, stream_options={"include_usage": True},
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            streamed.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    text = done.choices[0].message.content or ""
    assert "".join(streamed) == text
    assert done.usage is not None and usage is not None
    assert usage.completion_tokens == done.usage.completion_tokens
    return text, done.usage.completion_tokens, done.choices[0].finish_reason


@pytest.mark.parametrize("question", QUESTIONS, ids=["repeat", "copy-and-add"])
def test_drafting_changes_nothing_a_client_sees(
    servers: tuple[LazarusProcess, LazarusProcess], question: str
) -> None:
    plain, drafted = servers
    expected = answer(plain, question)
    assert "district 9" in expected[0]  # the model does copy: drafts have something to hold
    assert answer(drafted, question) == expected
