"""Compare the llama.cpp and transformers backends on the embedded SmolLM2 (same weights).

    python bench/backends_compare.py [--threads 2] [--tokens 128] [--runs 3]

Reports decode tokens/s for one request and for 4 concurrent requests on each backend, and the
process CPU time per token (which a busy machine disturbs far less than wall time): medians of
`--runs` runs, each measuring both backends one after the other, each in a fresh process, with the
load average printed before it. Then how far their greedy outputs agree on a few prompts. The
transformers side serves the safetensors folder the tests build from the embedded GGUF
(tests/transformers/make_model.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chuk_lazarus.core.types import ChatMessage, GenerationRequest, SamplingParams
from chuk_lazarus.engine.engine import ModelEngine
from chuk_lazarus.models.embedded import cache_dir

AGREEMENT_PROMPTS = (
    "What is the capital of France?",
    "Name three colors.",
    "What is 2+2?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "Give me a tip for learning Python.",
)
BACKENDS = ("llama.cpp", "transformers")
STORY = "Write a long story about a dragon who learns to bake bread."


def chat(text: str, max_tokens: int, seed: int | None = None) -> GenerationRequest:
    # Sampled (seeded) for throughput runs so every request runs to max_tokens rather than an early EOS.
    sampling = SamplingParams(temperature=0.0) if seed is None else SamplingParams(temperature=0.8, seed=seed)
    return GenerationRequest(messages=(ChatMessage("user", text),), max_tokens=max_tokens, sampling=sampling)


async def throughput(engine: ModelEngine, tokens: int, concurrent: int) -> dict[str, float]:
    """Aggregate decode tokens/s, and this process's CPU time per token (robust to a busy machine)."""
    requests = [chat(STORY, tokens, seed=i) for i in range(concurrent)]
    await engine.agenerate(chat("Hi", 4))  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(engine.agenerate(r) for r in requests))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    total = sum(r.finish.usage.completion_tokens for r in results)
    return {"rate": total / elapsed, "tokens": total, "cpu_ms": 1000 * cpu / total}


async def measure_one(backend: str, threads: int, tokens: int, agreement: bool) -> dict[str, object]:
    """One backend in this (fresh) process, as `lazarus serve` would load it."""
    model = None
    if backend == "transformers":
        from tests.transformers.make_model import smollm2_hf_folder

        model = str(smollm2_hf_folder(cache_dir() / "test-models"))
    engine = await ModelEngine.load(model, backend=backend, threads=threads, parallel=4)
    try:
        out: dict[str, object] = {str(n): await throughput(engine, tokens, n) for n in (1, 4)}
        if agreement:
            out["texts"] = [(await engine.agenerate(chat(p, 48))).text for p in AGREEMENT_PROMPTS]
    finally:
        await engine.aclose()
    return out


def run_one(backend: str, args: argparse.Namespace, agreement: bool) -> dict[str, Any]:
    # Each backend in its own process: both link libgomp, which reads its settings once per process
    # (the transformers backend sets OMP_WAIT_POLICY before torch loads; llama.cpp loaded first
    # would have fixed libgomp's defaults for torch too).
    command = [sys.executable, __file__, "--one", backend, "--threads", str(args.threads)]
    command += ["--tokens", str(args.tokens)] + (["--agreement"] if agreement else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", choices=BACKENDS, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--agreement", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(measure_one(args.one, args.threads, args.tokens, args.agreement))))
        return
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    texts: dict[str, list[str]] = {}
    for run in range(1, args.runs + 1):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"run {run}: load average {load} on {os.cpu_count()} cores", flush=True)
        for backend in BACKENDS:
            out = run_one(backend, args, agreement=run == args.runs)
            for n in ("1", "4"):
                r = out[n]
                results.setdefault((backend, n), []).append(r)
                print(
                    f"  {backend:13s} {n} concurrent: {r['rate']:7.1f} tok/s aggregate "
                    f"({r['tokens']} tokens, {r['cpu_ms']:.1f} ms CPU per token)",
                    flush=True,
                )
            if "texts" in out:
                texts[backend] = out["texts"]
    print(f"medians of {args.runs} runs:")
    for backend in BACKENDS:
        one, four = ([r["rate"] for r in results[backend, n]] for n in ("1", "4"))
        cpu1, cpu4 = ([r["cpu_ms"] for r in results[backend, n]] for n in ("1", "4"))
        m1, m4 = statistics.median(one), statistics.median(four)
        print(
            f"  {backend:13s} 1 concurrent {m1:7.1f} tok/s   4 concurrent {m4:7.1f} tok/s ({m4 / m1:.2f}x)   "
            f"CPU ms/token {statistics.median(cpu1):.1f} / {statistics.median(cpu4):.1f}"
        )
    print("greedy agreement (first 48 tokens):")
    for prompt, a, b in zip(AGREEMENT_PROMPTS, texts["llama.cpp"], texts["transformers"]):
        same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        verdict = "identical" if a == b else f"agree for {same} chars of {max(len(a), len(b))}"
        print(f"  {prompt!r}: {verdict}")
        if a != b:
            print(f"    llama.cpp   : {a!r}\n    transformers: {b!r}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
