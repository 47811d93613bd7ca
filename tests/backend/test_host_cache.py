"""The prompt cache beyond the slots, on the real embedded model: an evicted conversation restores its
history from RAM with the same logits a recompute gives, and a prompt that differs gets no more than
the tokens it shares.

Q4_1, as in tests/conftest.py `exact_args`: its outputs do not depend on what else is in the batch.
"""

from __future__ import annotations

import json
from pathlib import Path

from chuk_lazarus.core.types import ChatMessage, GenerationRequest, GenerationResult, ResponseFormat, SamplingParams
from chuk_lazarus.engine import ModelEngine

SYSTEM = "You are a patient tutor. " + " ".join(f"Rule {i}: explain step {i} slowly." for i in range(30))


def chat(system: str | None, question: str) -> GenerationRequest:
    messages = (ChatMessage("user", question),)
    if system is not None:
        messages = (ChatMessage("system", system), *messages)
    return GenerationRequest(messages=messages, max_tokens=8, sampling=SamplingParams(temperature=0), logprobs=3)


async def run(engine: ModelEngine, request: GenerationRequest) -> GenerationResult:
    return await engine.agenerate(request)


async def test_an_evicted_conversation_is_restored_with_the_logits_it_had_in_its_slot() -> None:
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=1, cache_ram=64)
    try:
        a, b = chat(SYSTEM, "What is a fraction?"), chat(None, "Name a colour.")
        cold = await run(engine, a)
        in_slot = await run(engine, a)  # the slot still holds a's prompt: all but one token reused
        await run(engine, b)  # the only slot now holds b: a's state went to RAM
        from_ram = await run(engine, a)
        prompt = cold.finish.usage.prompt_tokens
        assert prompt > 150 and cold.finish.usage.cached_prompt_tokens == 0
        # The same prompt again: all of it is reused, and its first token comes from the logits kept
        # at its end (the very row the cold run sampled from).
        assert in_slot.finish.usage.cached_prompt_tokens == from_ram.finish.usage.cached_prompt_tokens == prompt
        assert cold.logprobs[0] == in_slot.logprobs[0] == from_ram.logprobs[0]
        # The restored K/V are the slot's own bytes: the same logits, to the last bit.
        assert from_ram.logprobs == in_slot.logprobs and from_ram.text == in_slot.text == cold.text
        # Against the cold run, later tokens decode one at a time over K/V the prompt's batch computed
        # in the slot or restored (the same bytes); the cold run's own decodes agree within the ~1e-3
        # of llama.cpp's one-row and many-row kernels (see conftest).
        assert [x.token for x in cold.logprobs] == [y.token for y in from_ram.logprobs]
        assert all(abs(x.logprob - y.logprob) < 1e-2 for x, y in zip(cold.logprobs, from_ram.logprobs))
        # A prompt that is the same only in part reuses only its shared part (and decodes its first token).
        longer = await run(engine, chat(SYSTEM, "What is a fraction? Be brief."))
        assert longer.finish.usage.cached_prompt_tokens < longer.finish.usage.prompt_tokens
    finally:
        await engine.aclose()


async def test_without_the_cache_the_evicted_history_is_computed_again() -> None:
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=1, cache_ram=0)
    try:
        a, b = chat(SYSTEM, "What is a fraction?"), chat(None, "Name a colour.")
        await run(engine, a)
        await run(engine, b)
        again = await run(engine, a)
        assert again.finish.usage.cached_prompt_tokens < 10  # only the template's opening is shared
    finally:
        await engine.aclose()


async def test_a_prompt_reuses_only_the_tokens_it_shares_with_a_cached_state() -> None:
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=1, cache_ram=64)
    try:
        original = SYSTEM
        altered = SYSTEM.replace("Rule 20:", "Law 20:")
        await run(engine, chat(original, "What is a fraction?"))
        await run(engine, chat(None, "Name a colour."))  # evicts it into RAM
        tokens_a = engine.backend.tokenize(engine.template.render([{"role": "system", "content": original}]))
        tokens_b = engine.backend.tokenize(engine.template.render([{"role": "system", "content": altered}]))
        first_difference = next(i for i, (x, y) in enumerate(zip(tokens_a, tokens_b)) if x != y)
        result = await run(engine, chat(altered, "What is a fraction?"))
        assert 32 <= result.finish.usage.cached_prompt_tokens <= first_difference
    finally:
        await engine.aclose()


async def test_a_conversation_comes_back_from_disk_after_a_restart(tmp_path: Path) -> None:
    # --cache-dir: the states the slots and the RAM cache held are on disk when the server stops.
    settings = {"parallel": 1, "threads": 1, "cache_ram": 64, "cache_dir": str(tmp_path)}
    a = chat(SYSTEM, "What is a fraction?")
    engine = await ModelEngine.load("smollm2-135m:q4_1", **settings)
    try:
        cold = await run(engine, a)
        in_slot = await run(engine, a)
    finally:
        await engine.aclose()
    assert list(tmp_path.rglob("*.kv"))
    engine = await ModelEngine.load("smollm2-135m:q4_1", **settings)
    try:
        from_disk = await run(engine, a)
        other = await run(engine, chat(None, "Name a colour."))
    finally:
        await engine.aclose()
    prompt = cold.finish.usage.prompt_tokens
    # The disk tier keeps K/V only, not the logits at the prompt's end: the last prompt token is
    # decoded again, alone, over the restored K/V, where in_slot took the cold batch's own row
    # (llama.cpp's one-row and many-row kernels differ by ~1e-3, see conftest), and later tokens
    # attend to that token's slightly different K/V.
    assert from_disk.finish.usage.cached_prompt_tokens == prompt - 1
    assert from_disk.text == in_slot.text
    assert [x.token for x in from_disk.logprobs] == [y.token for y in in_slot.logprobs]
    assert abs(from_disk.logprobs[0].logprob - in_slot.logprobs[0].logprob) < 1e-2
    assert other.finish.usage.cached_prompt_tokens < 10  # it shares only the template's opening


async def test_without_a_cache_dir_a_restart_computes_the_history_again(tmp_path: Path) -> None:
    a = chat(SYSTEM, "What is a fraction?")
    for _ in range(2):
        engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=1, cache_ram=64)
        try:
            result = await run(engine, a)
        finally:
            await engine.aclose()
        assert result.finish.usage.cached_prompt_tokens == 0


async def test_the_same_prompt_again_samples_its_first_token_without_a_decode() -> None:
    """Seen before and kept (in its slot or in RAM): no decode runs before the first token, and the
    output is the one a fresh computation gives, seeded sampling and a JSON schema included."""
    engine = await ModelEngine.load("smollm2-135m:q4_1", parallel=1, threads=1, cache_ram=64)
    stepper = engine.backend.stepper  # type: ignore[attr-defined]
    try:
        a = chat(SYSTEM, "What is a fraction?")
        one = GenerationRequest(messages=a.messages, max_tokens=1, sampling=SamplingParams(temperature=0))
        first = await run(engine, one)
        decodes = stepper.decodes
        again = await run(engine, one)
        assert stepper.decodes == decodes  # answered from the kept logits alone
        assert again.text == first.text and again.finish.usage.cached_prompt_tokens == again.finish.usage.prompt_tokens
        seeded = GenerationRequest(messages=a.messages, max_tokens=12, sampling=SamplingParams(temperature=0.9, seed=11))
        fresh = await run(engine, seeded)  # its first token from the row kept above
        await run(engine, chat(None, "Name a colour."))  # the slot goes to another prompt; a's state to RAM
        restored = await run(engine, seeded)
        assert restored.text == fresh.text and restored.finish.usage.cached_prompt_tokens == restored.finish.usage.prompt_tokens
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": False}
        shaped = GenerationRequest(
            messages=a.messages, max_tokens=16, sampling=SamplingParams(temperature=0),
            response_format=ResponseFormat(type="json_schema", schema=schema),
        )  # fmt: skip
        outputs = [(await run(engine, shaped)).text for _ in range(2)]
        assert outputs[0] == outputs[1] and json.loads(outputs[0]).keys() == {"n"}
    finally:
        await engine.aclose()
