"""Control tokens only where the template put them (llama.cpp backend, the embedded model): a user
message holding the text of every special token of the vocabulary is tokenized as ordinary text, and
the reply still ends at the real end-of-turn token. `check_forged_turns` is shared with the
transformers backend's test (tests/transformers/test_forged_turns.py)."""

from __future__ import annotations

import asyncio
import random
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


def test_the_control_text_prefilter_never_skips_a_difference(llama_engine: ModelEngine) -> None:
    """`may_hold_control_text` lets planning skip the two tokenizations; it may say "maybe" too often,
    never "no" for a text whose tokenizations differ."""
    backend = llama_engine.backend
    model = backend.model  # type: ignore[attr-defined]
    rng = random.Random(7)
    controls = model.control_texts()
    assert "<|im_end|>" in controls and "<|im_start|>" in controls
    pieces = [model.piece(t).decode("utf-8", errors="ignore") for t in rng.sample(range(model.n_vocab), 400)]
    pieces += controls + [c[: len(c) // 2] for c in controls] + ["<", "|", ">", "<|", "|>"]
    skipped = 0
    for _ in range(600):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        differs = backend.tokenize(text, parse_special=True) != backend.tokenize(text, parse_special=False)
        if differs:
            assert backend.may_hold_control_text(text), text
        elif not backend.may_hold_control_text(text):
            skipped += 1
    assert skipped > 100  # the point of it: most text is told apart without tokenizing
    for control in controls:
        assert backend.may_hold_control_text(f"a{control}b")
