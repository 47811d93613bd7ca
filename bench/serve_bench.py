"""Benchmark `lazarus serve` against llama-cpp-python's server and llama.cpp's `llama-server`.

One run starts each server in turn on the same GGUF with the same thread count and --parallel, drives
it with a streaming OpenAI load generator (httpx, async), and stops it. Workloads:

  c1, c4, c16   N concurrent clients, each sending distinct prompts one after another
  shared        rounds of 8 clients arriving together; each round one fresh ~500-token system prefix
                shared by all 8, and short distinct questions (prefix computed once vs 8 times)

Per server and workload: aggregate completion tokens/s, requests/s, TTFT p50/p95, errors, truncated
streams (no finish_reason), and during c16 the latency of GET /health (p99). Repeated `--runs` times;
the table shows medians, and ratios ours / llama-server. All traffic goes to 127.0.0.1 only.

    python bench/serve_bench.py --runs 3 --write docs/benchmarks.md

See bench/README.md for building `llama-server` from the sources vendored in the pinned
llama-cpp-python sdist (into ~/.cache/chuk-lazarus-bench, never into the repo).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

CACHE = Path(os.environ.get("LAZARUS_BENCH_CACHE", Path.home() / ".cache" / "chuk-lazarus-bench"))
DEFAULT_LLAMA_SERVER = CACHE / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp" / "build" / "bin" / "llama-server"
SERVERS = ("lazarus", "llama-server", "llama-cpp-python")
TOPICS = ["cats", "the ocean", "Paris", "volcanoes", "bread", "music", "rain", "the moon", "trains", "chess",
          "gardens", "winter", "coffee", "robots", "rivers", "books", "bridges", "owls", "deserts", "tea",
          "castles", "bees", "glaciers", "kites", "lighthouses", "maps", "pianos", "comets", "forests",
          "markets", "whales", "clocks"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- servers ------------------------------------------------------------------------------------


@dataclass
class ServerProc:
    name: str
    command: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: str = ""
    env: dict[str, str] | None = None  # None: this process's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        with tempfile.NamedTemporaryFile(prefix=f"bench-{self.name}-", suffix=".log", delete=False) as handle:
            self.log = handle.name
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        probe = "/health" if self.name != "llama-cpp-python" else "/v1/models"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log}")
            try:
                if httpx.get(self.url + probe, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout}s: see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def make_server(name: str, args: argparse.Namespace) -> ServerProc:
    port = free_port()
    model, threads, parallel, ctx = str(args.model), str(args.threads), str(args.parallel), args.ctx_per_seq
    env = None
    if name.startswith("lazarus@"):  # another checkout's source tree, e.g. before and after a change
        env = {**os.environ, "PYTHONPATH": args.sources[name]}
    if name == "lazarus" or name.startswith("lazarus@"):
        cmd = [sys.executable, "-m", "chuk_lazarus.cli", "serve", "--model", model, "--port", str(port),
               "--threads", threads, "--parallel", parallel, "--ctx-size", str(ctx), "--log-level", "warning",
               "--max-queue", "256", "--served-model-name", "bench"]  # fmt: skip
    elif name == "llama-server":
        cmd = [str(args.llama_server), "-m", model, "--host", "127.0.0.1", "--port", str(port),
               "-t", threads, "-tb", threads, "-np", parallel, "-c", str(ctx * args.parallel),
               "--no-webui", "--log-disable"]  # fmt: skip
    elif name == "llama-cpp-python":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
               "--port", str(port), "--n_threads", threads, "--n_threads_batch", threads,
               "--n_ctx", str(ctx), "--verbose", "False", "--model_alias", "bench"]  # fmt: skip
    else:
        raise ValueError(name)
    return ServerProc(name, cmd, port, env=env)


# ---- load generation ----------------------------------------------------------------------------


@dataclass
class RequestResult:
    ok: bool
    truncated: bool
    ttft: float | None
    tokens: int
    error: str = ""


async def one_request(client: httpx.AsyncClient, url: str, messages: list[dict[str, str]], max_tokens: int) -> RequestResult:
    body = {
        "model": "bench",
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    ttft: float | None = None
    chunks = 0
    usage_tokens: int | None = None
    finished = False
    try:
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                await reply.aread()
                return RequestResult(False, False, None, 0, f"HTTP {reply.status_code}")
            async for line in reply.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                frame = json.loads(data)
                if frame.get("usage"):
                    usage_tokens = frame["usage"].get("completion_tokens")
                for choice in frame.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        chunks += 1
                        if ttft is None:
                            ttft = time.perf_counter() - start
                    if choice.get("finish_reason"):
                        finished = True
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        return RequestResult(False, True, ttft, chunks, type(exc).__name__)
    return RequestResult(True, not finished, ttft, usage_tokens if usage_tokens is not None else chunks)


@dataclass
class WorkloadResult:
    tok_s: float
    req_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    errors: int
    truncated: int
    requests: int
    tokens: int
    health_p99_ms: float | None = None
    # The server process's CPU time (user + system) per completion token: on a shared, noisy machine
    # it moves far less than wall-clock tok/s does, so it tells a real regression from noise.
    cpu_ms_per_tok: float | None = None


def process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # not Linux, or the process is gone
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


async def run_clients(url: str, clients: list[list[list[dict[str, str]]]], max_tokens: int,
                      health: bool = False) -> WorkloadResult:  # fmt: skip
    """Each client sends its conversations one after another; all clients run concurrently."""
    results: list[RequestResult] = []
    health_ms: list[float] = []
    limits = httpx.Limits(max_connections=len(clients) + 4, max_keepalive_connections=len(clients) + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as client:
        done = asyncio.Event()

        async def probe_health() -> None:
            async with httpx.AsyncClient(timeout=10) as probe:
                while not done.is_set():
                    t = time.perf_counter()
                    try:
                        await probe.get(url + "/health")
                        health_ms.append((time.perf_counter() - t) * 1000)
                    except httpx.HTTPError:
                        health_ms.append(10_000.0)
                    await asyncio.sleep(0.05)

        async def client_loop(prompts: list[list[dict[str, str]]]) -> None:
            for messages in prompts:
                results.append(await one_request(client, url, messages, max_tokens))

        prober = asyncio.create_task(probe_health()) if health else None
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in clients))
        elapsed = time.perf_counter() - start
        done.set()
        if prober:
            await prober
    ttfts = [r.ttft * 1000 for r in results if r.ttft is not None]
    tokens = sum(r.tokens for r in results if r.ok)
    return WorkloadResult(
        tok_s=tokens / elapsed,
        req_s=sum(r.ok and not r.truncated for r in results) / elapsed,
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p95_ms=percentile(ttfts, 0.95),
        errors=sum(not r.ok for r in results),
        truncated=sum(r.ok and r.truncated for r in results),
        requests=len(results),
        tokens=tokens,
        health_p99_ms=percentile(health_ms, 0.99) if health else None,
    )


def story_prompts(n_clients: int, per_client: int, salt: str) -> list[list[list[dict[str, str]]]]:
    out = []
    for c in range(n_clients):
        convs = []
        for k in range(per_client):
            topic = TOPICS[(c * per_client + k) % len(TOPICS)]
            text = f"({salt}{c}.{k}) Write a long, detailed story about {topic}."
            convs.append([{"role": "user", "content": text}])
        out.append(convs)
    return out


def shared_prefix(round_id: str) -> str:
    rules = " ".join(
        f"Rule {i}: when asked about topic {i}, answer in one short sentence and stay polite." for i in range(30)
    )
    return f"You are the support assistant of company {round_id}. Follow these rules. {rules}"


async def run_server(server: ServerProc, args: argparse.Namespace, run: int) -> dict[str, WorkloadResult]:
    url = server.url
    out: dict[str, WorkloadResult] = {}
    await run_clients(url, story_prompts(1, 1, f"warm{run}"), 8)  # load pages, build graphs
    pid = server.process.pid if server.process else 0
    for level in args.concurrency:
        per_client = max(1, args.requests // level)
        before = process_cpu_s(pid)
        result = await run_clients(
            url, story_prompts(level, per_client, f"r{run}c{level}-"), args.max_tokens, health=(level == 16)
        )
        after = process_cpu_s(pid)
        if before is not None and after is not None and result.tokens:
            result.cpu_ms_per_tok = 1000 * (after - before) / result.tokens
        out[f"c{level}"] = result
    # Shared prefix: rounds of 8 clients arriving together, each round a fresh long system prompt.
    rounds: list[WorkloadResult] = []
    for r in range(args.shared_rounds):
        system = shared_prefix(f"R{run}-{r}-{server.name}")
        clients = [
            [[{"role": "system", "content": system}, {"role": "user", "content": f"Tell me about {TOPICS[i]}."}]]
            for i in range(8)
        ]
        rounds.append(await run_clients(url, clients, args.shared_max_tokens))
    out["shared"] = WorkloadResult(
        tok_s=statistics.median(x.tok_s for x in rounds),
        req_s=statistics.median(x.req_s for x in rounds),
        ttft_p50_ms=statistics.median(x.ttft_p50_ms for x in rounds),
        ttft_p95_ms=max(x.ttft_p95_ms for x in rounds),
        errors=sum(x.errors for x in rounds),
        truncated=sum(x.truncated for x in rounds),
        requests=sum(x.requests for x in rounds),
        tokens=sum(x.tokens for x in rounds),
    )
    return out


# ---- report -------------------------------------------------------------------------------------


@dataclass
class Summary:
    runs: dict[str, dict[str, list[WorkloadResult]]] = field(default_factory=dict)

    def add(self, server: str, results: dict[str, WorkloadResult]) -> None:
        for workload, result in results.items():
            self.runs.setdefault(server, {}).setdefault(workload, []).append(result)

    def median(self, server: str, workload: str, key: str) -> float | None:
        values = [getattr(r, key) for r in self.runs.get(server, {}).get(workload, [])]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def total(self, server: str, workload: str, key: str) -> int:
        return sum(getattr(r, key) for r in self.runs.get(server, {}).get(workload, []))


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table(summary: Summary, workloads: list[str]) -> str:
    lines = [
        (
            "| workload | server | tok/s | req/s | TTFT p50 ms | TTFT p95 ms | errors | truncated | /health p99 ms "
            "| server CPU ms/token |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        for s in summary.runs:
            if w not in summary.runs[s]:
                continue
            lines.append(
                f"| {w} | {s} | {fmt(summary.median(s, w, 'tok_s'))} | {fmt(summary.median(s, w, 'req_s'), 2)} "
                f"| {fmt(summary.median(s, w, 'ttft_p50_ms'), 0)} | {fmt(summary.median(s, w, 'ttft_p95_ms'), 0)} "
                f"| {summary.total(s, w, 'errors')} | {summary.total(s, w, 'truncated')} "
                f"| {fmt(summary.median(s, w, 'health_p99_ms'), 1)} | {fmt(summary.median(s, w, 'cpu_ms_per_tok'), 2)} |"
            )
    if "lazarus" in summary.runs and "llama-server" in summary.runs:
        lines += ["", *ratios(summary, workloads, "lazarus", "llama-server")]
    variants = [s for s in summary.runs if s.startswith("lazarus@")]
    for other in variants[1:]:
        lines += ["", *ratios(summary, workloads, other, variants[0])]
    return "\n".join(lines)


def ratios(summary: Summary, workloads: list[str], ours: str, peer: str) -> list[str]:
    lines = [f"| workload | tok/s {ours} / {peer} | TTFT p50 {ours} / {peer} |", "|---|---:|---:|"]
    for w in workloads:
        a, b = summary.median(ours, w, "tok_s"), summary.median(peer, w, "tok_s")
        ta, tb = summary.median(ours, w, "ttft_p50_ms"), summary.median(peer, w, "ttft_p50_ms")
        ratio = f"{a / b:.2f}x" if a and b else "—"
        tratio = f"{ta / tb:.2f}x" if ta and tb else "—"
        lines.append(f"| {w} | {ratio} | {tratio} |")
    return lines


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the embedded model's F16 copy)")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--llama-server", type=Path, default=DEFAULT_LLAMA_SERVER)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--ctx-per-seq", type=int, default=1024)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level (>= level)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--shared-rounds", type=int, default=3)
    parser.add_argument("--shared-max-tokens", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write every run's raw numbers here")
    parser.add_argument("--write", type=Path, default=None, help="write the report (markdown) here")
    parser.add_argument("--source", action="append", default=[], metavar="NAME=DIR",
                        help="also run lazarus from another checkout's src/ as server lazarus@NAME (repeatable; "
                             "runs alternate, so a before/after pair shares one sitting)")  # fmt: skip
    args = parser.parse_args()
    args.sources = {f"lazarus@{n}": d for n, _, d in (item.partition("=") for item in args.source)}
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.model is None:
        from chuk_lazarus.models.embedded import embedded_gguf_path

        args.model = embedded_gguf_path("f16")
    names = [n for n in args.servers.split(",") if n] + list(args.sources)
    if "llama-server" in names and not args.llama_server.exists():
        print(f"llama-server not found at {args.llama_server}; see bench/README.md (skipping it)", file=sys.stderr)
        names.remove("llama-server")

    summary = Summary()
    started = datetime.datetime.now(datetime.timezone.utc)
    for run in range(args.runs):
        order = names[run % len(names) :] + names[: run % len(names)]  # rotate who goes first
        for name in order:
            server = make_server(name, args)
            print(f"run {run + 1}/{args.runs}: {name} …", file=sys.stderr, flush=True)
            server.start()
            try:
                results = asyncio.run(run_server(server, args, run))
            finally:
                server.stop()
            summary.add(name, results)
            for w, r in results.items():
                print(f"  {w:7s} {r.tok_s:7.1f} tok/s  ttft p50 {r.ttft_p50_ms:7.0f} ms  err {r.errors} "
                      f"trunc {r.truncated}", file=sys.stderr, flush=True)  # fmt: skip
    workloads = [f"c{c}" for c in args.concurrency] + ["shared"]
    report = "\n".join([
        f"Date: {started:%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()}  ",
        (
            f"Model: `{args.model.name}` — threads {args.threads}, --parallel {args.parallel}, "
            f"{args.ctx_per_seq} tokens of context per sequence, temperature 0, max_tokens {args.max_tokens} "
            f"(shared: {args.shared_max_tokens}), medians of {args.runs} runs  "
        ),
        f"Command: `python bench/serve_bench.py {' '.join(sys.argv[1:])}`",
        "",
        table(summary, workloads),
    ])  # fmt: skip
    print(report)
    if args.json:
        raw = {s: {w: [asdict(r) for r in rs] for w, rs in ws.items()} for s, ws in summary.runs.items()}
        args.json.write_text(json.dumps(raw, indent=1))
    if args.write:
        args.write.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
