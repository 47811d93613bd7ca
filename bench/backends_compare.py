"""Compare the llama.cpp and transformers backends on the embedded SmolLM2 (same weights).

    python bench/backends_compare.py [--threads 2] [--tokens 128]

Reports decode tokens/s for one request and for 4 concurrent requests on each backend, and how far
their greedy outputs agree on a few prompts. The transformers side serves the safetensors folder the
tests build from the embedded GGUF (tests/transformers/make_model.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chuk_lazarus.engine.engine import ModelEngine  # noqa: E402
from chuk_lazarus.engine.types import ChatMessage, GenerationRequest, SamplingParams  # noqa: E402
from chuk_lazarus.models.embedded import cache_dir  # noqa: E402

AGREEMENT_PROMPTS = (
    "What is the capital of France?",
    "Name three colors.",
    "What is 2+2?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "Give me a tip for learning Python.",
)
STORY = "Write a long story about a dragon who learns to bake bread."


def chat(text: str, max_tokens: int, seed: int | None = None) -> GenerationRequest:
    # Sampled (seeded) for throughput runs so every request runs to max_tokens rather than an early EOS.
    sampling = SamplingParams(temperature=0.0) if seed is None else SamplingParams(temperature=0.8, seed=seed)
    return GenerationRequest(messages=(ChatMessage("user", text),), max_tokens=max_tokens, sampling=sampling)


async def throughput(engine: ModelEngine, tokens: int, concurrent: int) -> tuple[float, int]:
    requests = [chat(STORY, tokens, seed=i) for i in range(concurrent)]
    await engine.agenerate(chat("Hi", 4))  # warm-up
    started = time.perf_counter()
    results = await asyncio.gather(*(engine.agenerate(r) for r in requests))
    elapsed = time.perf_counter() - started
    total = sum(r.finish.usage.completion_tokens for r in results)
    return total / elapsed, total


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    from tests.transformers.make_model import smollm2_hf_folder

    folder = smollm2_hf_folder(cache_dir() / "test-models")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    texts: dict[str, list[str]] = {}
    for backend, model in (("llama.cpp", None), ("transformers", str(folder))):
        engine = await ModelEngine.load(model, backend=backend, threads=args.threads, parallel=4)
        for n in (1, 4):
            rate, total = await throughput(engine, args.tokens, n)
            print(f"{backend:13s} {n} concurrent: {rate:7.1f} tok/s aggregate ({total} tokens)")
        texts[backend] = [(await engine.agenerate(chat(p, 48))).text for p in AGREEMENT_PROMPTS]
        await engine.aclose()
    print("greedy agreement (first 48 tokens):")
    for prompt, a, b in zip(AGREEMENT_PROMPTS, texts["llama.cpp"], texts["transformers"]):
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        verdict = "identical" if a == b else f"agree for {same} chars of {max(len(a), len(b))}"
        print(f"  {prompt!r}: {verdict}")
        if a != b:
            print(f"    llama.cpp   : {a!r}\n    transformers: {b!r}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
