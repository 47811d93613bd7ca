"""Benchmark embeddings: `lazarus serve` vs llama.cpp's `llama-server --embeddings` on the same GGUF.

Workloads (OpenAI `POST /v1/embeddings`, `encoding_format: float`, short distinct sentences):
  b1   one input per request, one request at a time
  b32  32 inputs per request, one request at a time
  c4   one input per request, 4 clients at once (the server batches across requests)

Both servers run at once (each idle while the other is measured), the runs alternate between them, and
each number is the median over `--runs` runs of inputs per second. Both pool with mean (llama-server
`--pooling mean`; lazarus uses mean for a chat model without pooling metadata) and normalize. All
traffic goes to 127.0.0.1 only.

    python bench/embed_bench.py --runs 3 --write /tmp/embed.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import DEFAULT_LLAMA_SERVER, ServerProc, free_port, machine

WORKLOADS = ("b1", "b32", "c4")
_SUBJECTS = ("the cat", "a old sailor", "my neighbour", "the committee", "a small robot", "the river", "our team",
             "the teacher", "a lost dog", "the market")  # fmt: skip
_VERBS = ("watched", "painted", "forgot", "repaired", "described", "followed", "measured", "ignored")
_OBJECTS = ("the morning train", "a broken bridge", "the winter garden", "an empty stadium", "the last letter",
            "a quiet harbour", "the city lights")  # fmt: skip


def sentences(n: int, salt: int) -> list[str]:
    """`n` distinct sentences of 12-20 tokens (no two requests embed the same text)."""
    out = []
    for i in range(n):
        k = i + 1000 * salt
        s, v, o = _SUBJECTS[k % 10], _VERBS[(k // 10) % 8], _OBJECTS[(k // 80) % 7]
        out.append(f"Yesterday {s} {v} {o} near house number {k}, and nobody said a word.")
    return out


def make_server(name: str, args: argparse.Namespace) -> ServerProc:
    port, threads, ctx = free_port(), str(args.threads), str(args.ctx)
    if name == "lazarus":
        cmd = [sys.executable, "-m", "chuk_lazarus.cli", "serve", "--model", str(args.model), "--port", str(port),
               "--threads", threads, "--ctx-size", ctx, "--parallel", "1", "--log-level", "warning",
               "--max-queue", "256", "--served-model-name", "bench"]  # fmt: skip
    else:
        # One slot per input of a b32 request, each slot the same context; one decode of up to ctx tokens.
        cmd = [str(args.llama_server), "-m", str(args.model), "--host", "127.0.0.1", "--port", str(port),
               "-t", threads, "-tb", threads, "--embeddings", "--pooling", "mean", "-np", "32",
               "-c", str(args.ctx * 32), "-b", ctx, "-ub", ctx, "--no-webui", "--log-disable"]  # fmt: skip
    return ServerProc(name, cmd, port)


async def embed(client: httpx.AsyncClient, url: str, inputs: list[str]) -> None:
    r = await client.post(f"{url}/v1/embeddings", json={"model": "bench", "input": inputs, "encoding_format": "float"})
    r.raise_for_status()
    assert len(r.json()["data"]) == len(inputs)


async def workload(url: str, name: str, args: argparse.Namespace, salt: int) -> float:
    """Inputs per second."""
    async with httpx.AsyncClient(timeout=600) as client:
        await embed(client, url, sentences(2, salt + 500))  # warm: the lazy embedding context, caches
        started = time.perf_counter()
        if name == "b1":
            texts = sentences(args.b1_inputs, salt)
            for text in texts:
                await embed(client, url, [text])
        elif name == "b32":
            texts = sentences(32 * args.b32_requests, salt)
            for i in range(0, len(texts), 32):
                await embed(client, url, texts[i : i + 32])
        else:
            texts = sentences(args.c4_inputs, salt)
            queue = list(texts)

            async def one_client() -> None:
                while queue:
                    await embed(client, url, [queue.pop()])

            await asyncio.gather(*(one_client() for _ in range(4)))
        return len(texts) / (time.perf_counter() - started)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the embedded model's F16 copy)")
    parser.add_argument("--llama-server", type=Path, default=DEFAULT_LLAMA_SERVER)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=1024, help="tokens per embedding batch (and per input)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--b1-inputs", type=int, default=24)
    parser.add_argument("--b32-requests", type=int, default=3)
    parser.add_argument("--c4-inputs", type=int, default=48)
    parser.add_argument("--write", type=Path, default=None, help="write the report (markdown) here")
    args = parser.parse_args()
    if args.model is None:
        from chuk_lazarus.models.embedded import embedded_gguf_path

        args.model = embedded_gguf_path("f16")
    return args


def main() -> int:
    args = parse_args()
    names = ["lazarus", "llama-server"]
    if not args.llama_server.exists():
        print(f"llama-server not found at {args.llama_server}; see bench/README.md (lazarus only)", file=sys.stderr)
        names.remove("llama-server")
    servers = {n: make_server(n, args) for n in names}
    results: dict[str, dict[str, list[float]]] = {n: {w: [] for w in WORKLOADS} for n in names}
    try:
        for server in servers.values():
            server.start()
        for run in range(args.runs):
            for n in names if run % 2 == 0 else reversed(names):  # alternate who goes first
                for w in WORKLOADS:
                    value = asyncio.run(workload(servers[n].url, w, args, salt=run))
                    results[n][w].append(value)
                    print(f"run {run + 1} {n:12s} {w}: {value:.1f} inputs/s", file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    report = render(results, args)
    print(report)
    if args.write:
        args.write.write_text(report)
    return 0


def render(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    med = {n: {w: statistics.median(v) for w, v in ws.items() if v} for n, ws in results.items()}
    lines = [
        (
            f"{datetime.date.today().isoformat()} · {machine()} · model {args.model.name} · "
            f"{args.threads} threads · medians of {args.runs} runs, inputs/s (higher is better)"
        ),
        "",
        "| server | " + " | ".join(WORKLOADS) + " |",
        "|---|" + "---|" * len(WORKLOADS),
    ]
    for n, ws in med.items():
        lines.append(f"| {n} | " + " | ".join(f"{ws.get(w, float('nan')):.1f}" for w in WORKLOADS) + " |")
    if "llama-server" in med:
        ratio = [med["lazarus"][w] / med["llama-server"][w] for w in WORKLOADS]
        lines.append("| lazarus / llama-server | " + " | ".join(f"{r:.2f}x" for r in ratio) + " |")
    runs = "; ".join(f"{n} {w} " + "/".join(f"{x:.1f}" for x in v) for n, ws in results.items() for w, v in ws.items())
    lines += ["", f"all runs: {runs}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
