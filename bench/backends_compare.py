"""Compare the llama.cpp, transformers and vLLM backends on the embedded SmolLM2 (same weights).

    python bench/backends_compare.py [--threads 2] [--tokens 128] [--runs 3] \
        [--vllm-python .venv-vllm/bin/python]

vLLM needs its own environment (README "Tests"): with `--vllm-python` its runs use that interpreter,
and the table gains a vllm row. Each backend's load time and memory (the resident set of its process
and its children: vLLM's engine core is a child process) are reported too.

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
BACKENDS = ("llama.cpp", "transformers", "vllm")
STORY = "Write a long story about a dragon who learns to bake bread."


def chat(text: str, max_tokens: int, seed: int | None = None) -> GenerationRequest:
    # Sampled (seeded) for throughput runs so every request runs to max_tokens rather than an early EOS.
    sampling = SamplingParams(temperature=0.0) if seed is None else SamplingParams(temperature=0.8, seed=seed)
    return GenerationRequest(messages=(ChatMessage("user", text),), max_tokens=max_tokens, sampling=sampling)


async def throughput(engine: ModelEngine, tokens: int, concurrent: int) -> dict[str, float]:
    """Aggregate decode tokens/s, and the CPU time per token of this process and its children (robust
    to a busy machine)."""
    requests = [chat(STORY, tokens, seed=i) for i in range(concurrent)]
    await engine.agenerate(chat("Hi", 4))  # warm-up
    started, cpu = time.perf_counter(), cpu_seconds()
    results = await asyncio.gather(*(engine.agenerate(r) for r in requests))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    total = sum(r.finish.usage.completion_tokens for r in results)
    return {"rate": total / elapsed, "tokens": total, "cpu_ms": 1000 * cpu / total}


def _tree() -> list[Any]:
    import psutil

    me = psutil.Process()
    return [me, *me.children(recursive=True)]


def _gone() -> type[Exception]:
    import psutil

    return psutil.Error


def cpu_seconds() -> float:
    """User + system CPU time of this process and its live children (vLLM's engine core is one)."""
    total = 0.0
    for proc in _tree():
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except _gone():  # a child that just exited
            continue
    return total


def rss_mib() -> float:
    total = 0
    for proc in _tree():
        try:
            total += proc.memory_info().rss
        except _gone():
            continue
    return total / 2**20


async def measure_one(backend: str, threads: int, tokens: int, agreement: bool) -> dict[str, object]:
    """One backend in this (fresh) process, as `lazarus serve` would load it."""
    model = None
    if backend in ("transformers", "vllm"):
        from tests.transformers.make_model import smollm2_hf_folder

        # vLLM's environment has an older transformers: any build of the folder will do for it.
        model = str(smollm2_hf_folder(cache_dir() / "test-models", any_transformers=backend == "vllm"))
    if backend == "vllm":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    started = time.perf_counter()
    engine = await ModelEngine.load(model, backend=backend, threads=threads, parallel=4)
    load_s = time.perf_counter() - started
    try:
        out: dict[str, object] = {"load_s": load_s, "rss_loaded_mib": rss_mib()}
        out.update({str(n): await throughput(engine, tokens, n) for n in (1, 4)})
        out["rss_after_mib"] = rss_mib()
        if agreement:
            out["texts"] = [(await engine.agenerate(chat(p, 48))).text for p in AGREEMENT_PROMPTS]
    finally:
        await engine.aclose()
    return out


def run_one(backend: str, args: argparse.Namespace, agreement: bool) -> dict[str, Any]:
    # Each backend in its own process: both link libgomp, which reads its settings once per process
    # (the transformers backend sets OMP_WAIT_POLICY before torch loads; llama.cpp loaded first
    # would have fixed libgomp's defaults for torch too).
    python = args.vllm_python if backend == "vllm" else sys.executable
    command = [python, __file__, "--one", backend, "--threads", str(args.threads)]
    command += ["--tokens", str(args.tokens)] + (["--agreement"] if agreement else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vllm-python", help="the vLLM environment's python (adds the vllm backend)")
    parser.add_argument("--only", help="comma-separated backends to run (default: all available)")
    parser.add_argument("--one", choices=BACKENDS, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--agreement", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(measure_one(args.one, args.threads, args.tokens, args.agreement))))
        return
    backends = [b for b in BACKENDS if b != "vllm" or args.vllm_python]
    if args.only:
        backends = [b for b in backends if b in args.only.split(",")]
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    loads: dict[str, list[tuple[float, float, float]]] = {}
    texts: dict[str, list[str]] = {}
    for run in range(1, args.runs + 1):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"run {run}: load average {load} on {os.cpu_count()} cores", flush=True)
        for backend in backends:
            out = run_one(backend, args, agreement=run == args.runs)
            loads.setdefault(backend, []).append((out["load_s"], out["rss_loaded_mib"], out["rss_after_mib"]))
            print(f"  {backend:13s} loaded in {out['load_s']:.1f} s, RSS {out['rss_loaded_mib']:.0f} MiB "
                  f"(after the runs {out['rss_after_mib']:.0f} MiB)", flush=True)
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
    for backend in backends:
        load_s, rss, rss_after = (statistics.median(v) for v in zip(*loads[backend]))
        print(f"  {backend:13s} load {load_s:.1f} s   RSS {rss:.0f} MiB loaded, {rss_after:.0f} MiB after")
    for backend in backends:
        one, four = ([r["rate"] for r in results[backend, n]] for n in ("1", "4"))
        cpu1, cpu4 = ([r["cpu_ms"] for r in results[backend, n]] for n in ("1", "4"))
        m1, m4 = statistics.median(one), statistics.median(four)
        print(
            f"  {backend:13s} 1 concurrent {m1:7.1f} tok/s   4 concurrent {m4:7.1f} tok/s ({m4 / m1:.2f}x)   "
            f"CPU ms/token {statistics.median(cpu1):.1f} / {statistics.median(cpu4):.1f}"
        )
    print("greedy agreement (first 48 tokens):")
    reference = next(iter(texts), None)
    for other in [b for b in texts if b != reference]:
        assert reference is not None
        print(f"  {reference} vs {other}:")
        for prompt, a, b in zip(AGREEMENT_PROMPTS, texts[reference], texts[other]):
            same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            verdict = "identical" if a == b else f"agree for {same} chars of {max(len(a), len(b))}"
            print(f"    {prompt!r}: {verdict}")
            if a != b:
                print(f"      {reference:12s}: {a!r}\n      {other:12s}: {b!r}")
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
