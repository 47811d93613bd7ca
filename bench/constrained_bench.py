"""Decode speed under a grammar, beside the same engine's free decoding, in one process.

    python bench/constrained_bench.py [--runs 3] [--threads 2] [--model smollm2-135m]

One request at a time (so the numbers are the grammar's cost, not batching), greedy, each kind run
`--runs` times; reported per kind: median completion tokens/s over the whole request and over the
decode phase alone (prefill excluded, so a longer prompt — the injected tool definitions — does not
count against a kind), their ratios to free text, and the share of tokens the constraint forced
(fast-forwarded: appended without sampling). Kinds:
free text; a json_schema response (an object with a long free string and numbers); a forced tool call
(tool_choice=required); tools offered under tool_choice=auto to a template without tool support (the
generic JSON format, grammar from the first token).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from chuk_lazarus.engine import (
    ChatMessage,
    GenerationRequest,
    ModelEngine,
    ResponseFormat,
    SamplingParams,
    ToolChoice,
    ToolDefinition,
)

STORY = (ChatMessage("user", "Write a long story about a dragon who learns to cook."),)
WEATHER = ToolDefinition(
    "get_weather",
    "Get the weather for a city",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "year": {"type": "integer"}, "story": {"type": "string"}},
    "required": ["title", "year", "story"],
}


def requests(max_tokens: int) -> dict[str, GenerationRequest]:
    greedy = SamplingParams(temperature=0.0)
    weather = (ChatMessage("user", "What is the weather in Paris for the next three days?"),)
    return {
        "free text": GenerationRequest(messages=STORY, max_tokens=max_tokens, sampling=greedy),
        "json_schema": GenerationRequest(
            messages=STORY,
            max_tokens=max_tokens,
            sampling=greedy,
            response_format=ResponseFormat(type="json_schema", schema=SCHEMA),
        ),
        "tool_choice=required": GenerationRequest(
            messages=weather,
            max_tokens=max_tokens,
            sampling=greedy,
            tools=(WEATHER,),
            tool_choice=ToolChoice("required"),
        ),
        "tools, auto": GenerationRequest(
            messages=weather, max_tokens=max_tokens, sampling=greedy, tools=(WEATHER,)
        ),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: the embedded model (16-bit)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    engine = await ModelEngine.load(args.model, parallel=1, threads=args.threads)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rates: dict[str, list[float]] = {}
    decode: dict[str, list[float]] = {}
    tokens: dict[str, int] = {}
    forced: dict[str, int] = {}
    scheduler = getattr(engine.backend, "scheduler", None)
    for _ in range(args.runs):
        for kind, request in requests(args.max_tokens).items():  # interleaved: load drifts hit all kinds
            before = scheduler.forced_tokens if scheduler is not None else 0
            start = time.perf_counter()
            result = await engine.agenerate(request)
            elapsed = time.perf_counter() - start
            n = result.finish.usage.completion_tokens
            timings = result.finish.timings
            rates.setdefault(kind, []).append(n / elapsed)
            if timings is not None and timings.generation_ns:
                # The first token comes with the prefill; the rest are the decode phase.
                decode.setdefault(kind, []).append((n - 1) / (timings.generation_ns / 1e9))
            tokens[kind] = n
            forced[kind] = (scheduler.forced_tokens if scheduler is not None else 0) - before
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    free = statistics.median(rates["free text"])
    free_decode = statistics.median(decode.get("free text", [0.0])) or 1.0
    print(
        f"| kind | completion tokens | forced | tok/s (median of {args.runs}) | vs free | decode tok/s | vs free |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, values in rates.items():
        rate = statistics.median(values)
        dec = statistics.median(decode.get(kind, [0.0]))
        share = forced[kind] / tokens[kind] if tokens[kind] else 0.0
        print(
            f"| {kind} | {tokens[kind]} | {share:.0%} | {rate:.1f} | {rate / free:.2f}x | {dec:.1f} | "
            f"{dec / free_decode:.2f}x |"
        )
    await engine.aclose()


if __name__ == "__main__":
    asyncio.run(main())
