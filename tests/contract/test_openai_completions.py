"""The official `openai` SDK's legacy `completions.create` against a real `lazarus serve` (both backends)."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types import Completion

from tests.contract.server import LazarusProcess

pytestmark = pytest.mark.contract

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def server(lazarus_openai_server: LazarusProcess) -> LazarusProcess:
    return lazarus_openai_server


@pytest.fixture(scope="module")
def client(server: LazarusProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="lazarus", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model(client: openai.OpenAI) -> str:
    return client.models.list().data[0].id


def n_tokens(server: LazarusProcess, text: str) -> int:
    response = httpx.post(f"{server.base_url}/tokenize", json={"content": text, "add_special": True}, timeout=60)
    assert response.status_code == 200, response.text
    return len(response.json()["tokens"])


def test_a_string_prompt_is_continued_without_a_chat_template(
    client: openai.OpenAI, server: LazarusProcess, model: str
) -> None:
    response = client.completions.create(model=model, prompt=PROMPT, max_tokens=6, temperature=0)
    Completion.model_validate(response.model_dump())
    assert response.object == "text_completion" and response.id.startswith("cmpl-")
    (choice,) = response.choices
    assert choice.index == 0 and choice.text.strip() and choice.finish_reason in ("stop", "length")
    assert "Paris" in choice.text  # a raw continuation, not an assistant turn
    assert response.usage is not None
    assert response.usage.prompt_tokens == n_tokens(server, PROMPT)  # no template tokens around the prompt
    assert 0 < response.usage.completion_tokens <= 6


def test_batch_prompts_with_n_number_their_choices_prompt_by_prompt(
    client: openai.OpenAI, server: LazarusProcess, model: str
) -> None:
    prompts = ["One, two,", "Red, green,"]
    response = client.completions.create(model=model, prompt=prompts, n=2, max_tokens=3, temperature=0.7, seed=5)
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert all(c.text for c in response.choices)
    assert response.usage is not None
    assert response.usage.prompt_tokens == sum(n_tokens(server, p) for p in prompts)  # each prompt once


def test_a_token_prompt(client: openai.OpenAI, server: LazarusProcess, model: str) -> None:
    tokens = httpx.post(f"{server.base_url}/tokenize", json={"content": PROMPT}, timeout=60).json()["tokens"]
    response = client.completions.create(model=model, prompt=tokens, max_tokens=3, temperature=0)
    assert response.usage is not None and response.usage.prompt_tokens == len(tokens)
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=model, prompt=[10**9], max_tokens=1)
    assert caught.value.body["param"] == "prompt"  # type: ignore[index]


def test_streaming_sends_text_chunks_then_usage(client: openai.OpenAI, model: str) -> None:
    chunks = list(
        client.completions.create(
            model=model, prompt=PROMPT, max_tokens=5, temperature=0, stream=True,
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    texts = [c.choices[0].text for c in chunks if c.choices]
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert "".join(texts).strip() and finishes[-1] in ("stop", "length") and all(f is None for f in finishes[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 5


def test_echo_logprobs_with_no_tokens_scores_the_prompt(client: openai.OpenAI, server: LazarusProcess, model: str) -> None:
    response = client.completions.create(model=model, prompt=PROMPT, max_tokens=0, echo=True, logprobs=2)
    (choice,) = response.choices
    assert choice.text == PROMPT and choice.finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 0
    lp = choice.logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs and lp.text_offset is not None
    assert len(lp.tokens) == n_tokens(server, PROMPT) and "".join(lp.tokens) == PROMPT
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None  # nothing predicts the first token
    assert all(v is not None and v <= 0 for v in lp.token_logprobs[1:])
    assert all(top is not None and 1 <= len(top) <= 3 for top in lp.top_logprobs[1:])
    assert lp.text_offset == [PROMPT.index(t, o) for t, o in zip(lp.tokens, lp.text_offset)]


def test_prompt_logprobs_agree_with_a_generations_logprobs(
    client: openai.OpenAI, server: LazarusProcess, model: str
) -> None:
    generated = client.completions.create(model=model, prompt=PROMPT, max_tokens=4, temperature=0, logprobs=0)
    glp = generated.choices[0].logprobs
    assert glp is not None and glp.tokens and glp.token_logprobs

    def tokenize(text: str) -> list[int]:
        return list(httpx.post(f"{server.base_url}/tokenize", json={"content": text}, timeout=60).json()["tokens"])

    # Scored as token ids: re-tokenizing the text could merge the generated tokens ("\n" "\n" -> "\n\n").
    ids = [tokenize(t) for t in glp.tokens]
    assert all(len(i) == 1 for i in ids)
    prompt = tokenize(PROMPT) + [i[0] for i in ids]
    scored = client.completions.create(model=model, prompt=prompt, max_tokens=0, echo=True, logprobs=0)
    slp = scored.choices[0].logprobs
    assert slp is not None and slp.tokens and slp.token_logprobs
    k = len(glp.tokens)
    assert slp.tokens[-k:] == glp.tokens  # the same tokens, once as output, once as prompt
    for got, want in zip(slp.token_logprobs[-k:], glp.token_logprobs):
        # Batch shapes differ between the two (one prefill vs token-by-token decode): close, not equal.
        assert got is not None and want is not None and abs(got - want) < 0.02


def test_echo_without_logprobs_prepends_the_prompt(client: openai.OpenAI, model: str) -> None:
    response = client.completions.create(model=model, prompt=PROMPT, max_tokens=3, temperature=0, echo=True)
    assert response.choices[0].text.startswith(PROMPT) and len(response.choices[0].text) > len(PROMPT)


def test_suffix_on_a_model_without_fim_tokens_is_a_400_naming_it(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=model, prompt="def add(a, b):\n", suffix="\n\nprint(add(1, 2))", max_tokens=8)
    assert caught.value.status_code == 400 and caught.value.body["param"] == "suffix"  # type: ignore[index]


def test_best_of_above_n_is_a_400_naming_it(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=model, prompt=PROMPT, best_of=3, max_tokens=2)
    assert caught.value.body["param"] == "best_of"  # type: ignore[index]
