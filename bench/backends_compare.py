"""Compare the llama.cpp and transformers backends on the embedded SmolLM2 (same weights).

    python bench/backends_compare.py [--threads 2] [--tokens 128] [--runs 3]

Reports decode tokens/s for one request and for 4 concurrent requests on each backend (the median of
`--runs` runs; each run measures both backends one after the other, with the load average printed
before it), and how far their greedy outputs agree on a few prompts. The transformers side serves the
safetensors folder the tests build from the embedded GGUF (tests/transformers/make_model.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chuk_lazarus.engine.engine import ModelEngine
from chuk_lazarus.engine.types import ChatMessage, GenerationRequest, SamplingParams
from chuk_lazarus.models.embedded import cache_dir

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
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.transformers.make_model import smollm2_hf_folder

    folder = smollm2_hf_folder(cache_dir() / "test-models")
    backends = (("llama.cpp", None), ("transformers", str(folder)))
    rates: dict[tuple[str, int], list[float]] = {}
    texts: dict[str, list[str]] = {}
    for run in range(1, args.runs + 1):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"run {run}: load average {load} on {os.cpu_count()} cores")
        for backend, model in backends:
            engine = await ModelEngine.load(model, backend=backend, threads=args.threads, parallel=4)
            for n in (1, 4):
                rate, total = await throughput(engine, args.tokens, n)
                rates.setdefault((backend, n), []).append(rate)
                print(f"  {backend:13s} {n} concurrent: {rate:7.1f} tok/s aggregate ({total} tokens)")
            if run == args.runs:
                texts[backend] = [(await engine.agenerate(chat(p, 48))).text for p in AGREEMENT_PROMPTS]
            await engine.aclose()
    print(f"medians of {args.runs} runs (tok/s, aggregate):")
    for backend, _ in backends:
        one, four = (statistics.median(rates[backend, n]) for n in (1, 4))
        print(f"  {backend:13s} 1 concurrent {one:7.1f}   4 concurrent {four:7.1f}   ({four / one:.2f}x)")
    print("greedy agreement (first 48 tokens):")
    for prompt, a, b in zip(AGREEMENT_PROMPTS, texts["llama.cpp"], texts["transformers"]):
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        verdict = "identical" if a == b else f"agree for {same} chars of {max(len(a), len(b))}"
        print(f"  {prompt!r}: {verdict}")
        if a != b:
            print(f"    llama.cpp   : {a!r}\n    transformers: {b!r}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
