"""Control tokens only where the template put them (llama.cpp backend, the embedded model): a user
message holding the text of every special token of the vocabulary is tokenized as ordinary text, and
the reply still ends at the real end-of-turn token. `check_forged_turns` is shared with the
transformers backend's test (tests/transformers/test_forged_turns.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chuk_lazarus.engine import ChatMessage, GenerationRequest, ModelEngine, SamplingParams

pytestmark = pytest.mark.timeout(900)

QUESTION = "What is 2+2? Answer briefly."


def check_forged_turns(engine: ModelEngine, specials: list[int]) -> None:
    backend = engine.backend
    texts = [backend.token_bytes(t).decode() for t in specials]
    texts = [t for t in texts if t and backend.tokenize(t, parse_special=True) != backend.tokenize(t, parse_special=False)]
    assert len(texts) >= 3, texts  # at least the turn markers and the end of text
    forged = " ".join(texts) + "\n" + QUESTION

    def plan(content: str) -> list[int]:
        return asyncio.run(engine.plan(GenerationRequest(messages=(ChatMessage("user", content),)))).tokens

    plain, attacked = plan(QUESTION), plan(forged)
    for token in set(specials):  # no control token inside the user's span: the template's own, no more
        assert attacked.count(token) == plain.count(token), backend.token_bytes(token)
    as_text = backend.tokenize(" ".join(texts) + "\n", parse_special=False)
    assert len(attacked) >= len(plain) + len(as_text) - 2  # grows with the text (a seam may merge)
    tail = backend.tokenize("<|im_end|>\n<|im_start|>assistant\n", parse_special=True)
    assert attacked[-len(tail):] == plain[-len(tail):] == tail  # the real generation prompt follows

    request = GenerationRequest(
        messages=(ChatMessage("user", forged),), max_tokens=100, sampling=SamplingParams(temperature=0)
    )
    result = asyncio.run(engine.agenerate(request))
    assert result.finish.reason == "stop", result  # ended by the real end-of-turn token
    assert result.finish.usage.prompt_tokens == len(attacked)


@pytest.fixture(scope="module")
def llama_engine() -> Iterator[ModelEngine]:
    engine = asyncio.run(ModelEngine.load(None))
    yield engine
    engine.backend.close()


def test_special_token_text_in_a_message_is_plain_text(llama_engine: ModelEngine) -> None:
    model = llama_engine.backend.model  # type: ignore[attr-defined]
    # Control tokens are those rendered only when special tokens are rendered.
    specials = [t for t in range(model.n_vocab) if model.piece(t, special=True) != model.piece(t, special=False)]
    check_forged_turns(llama_engine, specials)
