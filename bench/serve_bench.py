"""Benchmark `lazarus serve` against llama-cpp-python's server and llama.cpp's `llama-server`.

One run starts each server in turn on the same GGUF with the same thread count and --parallel, drives
it with a streaming OpenAI load generator (httpx, async; bench/workloads.py), and stops it. Workloads
(`--workloads`, default c1,c4,c16,shared):

  c1, c4, c16   N concurrent clients (any N), each sending distinct prompts one after another
  shared        rounds of 8 clients arriving together; each round one fresh ~500-token system prefix
                shared by all 8, and short distinct questions (prefix computed once vs 8 times)
  rounds        the same 32 prompts three times at c16 (rounds1 cold; rounds2, rounds3 exact repeats)
  multiturn     24 conversations x 5 turns, 8 requests in flight, each turn the whole history so far
  agent         3 rounds of 16 concurrent questions under one ~1,500-token tool-list system prompt
                (agent1 cold, agent2-3)

Per server and workload: aggregate completion tokens/s, requests/s, TTFT p50/p95 (and for multiturn
p50 of turns 2+), inter-token latency p50/p99, the share of prompt tokens the server reports as cached,
errors, truncated streams (no finish_reason), during c16 the latency of GET /health (p99), and server
CPU ms per completion token. Repeated `--runs` times; the table shows medians, and ratios
ours / llama-server. All traffic goes to 127.0.0.1 only.

    python bench/serve_bench.py --runs 3 --write docs/benchmarks.md
    python bench/serve_bench.py --servers lazarus,llama-server --workloads rounds,multiturn,agent --runs 3

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
import shlex
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

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/workloads.py, however this is started
from workloads import (
    MULTITURN_MAX_TOKENS,
    TOPICS,
    CpuMeter,
    ReuseSizes,
    WorkloadResult,
    process_cpu_s,
    run_agent,
    run_clients,
    run_copy,
    run_multiturn,
    run_rounds,
)

CACHE = Path(os.environ.get("LAZARUS_BENCH_CACHE", Path.home() / ".cache" / "chuk-lazarus-bench"))
DEFAULT_LLAMA_SERVER = CACHE / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp" / "build" / "bin" / "llama-server"
SERVERS = ("lazarus", "llama-server", "llama-cpp-python")
REUSE = ("rounds", "multiturn", "agent")
AGENT_MIN_CTX = 2048


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
    if name in args.variants:  # a named server with extra flags, e.g. lazarus without drafting
        base, extra = args.variants[name]
        server = make_server(base, args)
        server.name = name
        server.command += extra
        return server
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


# ---- workloads ----------------------------------------------------------------------------------


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


async def run_concurrency(url: str, args: argparse.Namespace, run: int, level: int, pid: int) -> WorkloadResult:
    per_client = max(1, args.requests // level)
    before = process_cpu_s(pid)
    result = await run_clients(
        url, story_prompts(level, per_client, f"r{run}c{level}-"), args.max_tokens, health=(level == 16)
    )
    after = process_cpu_s(pid)
    if before is not None and after is not None and result.tokens:
        result.cpu_ms_per_tok = 1000 * (after - before) / result.tokens
    return result


async def run_shared(url: str, args: argparse.Namespace, run: int, server: str) -> WorkloadResult:
    """Rounds of 8 clients arriving together, each round a fresh long system prompt; medians over rounds."""
    rounds: list[WorkloadResult] = []
    for r in range(args.shared_rounds):
        system = shared_prefix(f"R{run}-{r}-{server}")
        clients = [
            [[{"role": "system", "content": system}, {"role": "user", "content": f"Tell me about {TOPICS[i]}."}]]
            for i in range(8)
        ]
        rounds.append(await run_clients(url, clients, args.shared_max_tokens))
    itl50 = [x.itl_p50_ms for x in rounds if x.itl_p50_ms is not None]
    cached = [x.cached_tokens for x in rounds if x.cached_tokens is not None]
    prompt = sum(x.prompt_tokens for x in rounds)
    return WorkloadResult(
        tok_s=statistics.median(x.tok_s for x in rounds),
        req_s=statistics.median(x.req_s for x in rounds),
        ttft_p50_ms=statistics.median(x.ttft_p50_ms for x in rounds),
        ttft_p95_ms=max(x.ttft_p95_ms for x in rounds),
        errors=sum(x.errors for x in rounds),
        truncated=sum(x.truncated for x in rounds),
        requests=sum(x.requests for x in rounds),
        tokens=sum(x.tokens for x in rounds),
        itl_p50_ms=statistics.median(itl50) if itl50 else None,
        itl_p99_ms=max((x.itl_p99_ms for x in rounds if x.itl_p99_ms is not None), default=None),
        prompt_tokens=prompt,
        cached_tokens=sum(cached) if cached else None,
        cached_share=sum(cached) / prompt if cached and prompt else None,
    )


async def run_server(server: ServerProc, args: argparse.Namespace, run: int) -> dict[str, WorkloadResult]:
    url = server.url
    out: dict[str, WorkloadResult] = {}
    await run_clients(url, story_prompts(1, 1, f"warm{run}"), 8)  # load pages, build graphs
    pid = server.process.pid if server.process else 0
    salt = f"r{run}-"
    for workload in args.workloads:
        if workload == "shared":
            out["shared"] = await run_shared(url, args, run, server.name)
        elif workload == "rounds":
            out.update(await run_rounds(url, args.sizes, salt, pid, args.max_tokens))
        elif workload == "multiturn":
            out.update(await run_multiturn(url, args.sizes, salt, pid))
        elif workload == "copy":
            out["copy"] = CpuMeter(pid).charge(await run_copy(url, salt, args.copy_max_tokens))
        elif workload == "agent":
            out.update(await run_agent(url, args.sizes, salt, pid, args.shared_max_tokens))
        else:
            out[workload] = await run_concurrency(url, args, run, int(workload[1:]), pid)
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


COLUMNS = [  # (header, WorkloadResult field, digits, scale); None: a total rather than a median
    ("tok/s", "tok_s", 1, 1), ("req/s", "req_s", 2, 1), ("TTFT p50 ms", "ttft_p50_ms", 0, 1),
    ("TTFT p95 ms", "ttft_p95_ms", 0, 1), ("TTFT p50 turns 2+ ms", "ttft_later_p50_ms", 0, 1),
    ("ITL p50 ms", "itl_p50_ms", 1, 1), ("ITL p99 ms", "itl_p99_ms", 1, 1), ("cached %", "cached_share", 0, 100),
    ("errors", "errors", None, 1), ("truncated", "truncated", None, 1), ("/health p99 ms", "health_p99_ms", 1, 1),
    ("server CPU ms/token", "cpu_ms_per_tok", 2, 1),
]  # fmt: skip


def cell(summary: Summary, server: str, workload: str, key: str, digits: int | None, scale: float) -> str:
    if digits is None:
        return str(summary.total(server, workload, key))
    value = summary.median(server, workload, key)
    return fmt(None if value is None else value * scale, digits)


def table(summary: Summary, workloads: list[str]) -> str:
    lines = [
        "| workload | server | " + " | ".join(h for h, *_ in COLUMNS) + " |",
        "|---|---|" + "---:|" * len(COLUMNS),
    ]
    for w in workloads:
        for s in summary.runs:
            if w in summary.runs[s]:
                lines.append(f"| {w} | {s} | " + " | ".join(cell(summary, s, w, *c[1:]) for c in COLUMNS) + " |")
    # Ours: lazarus, lazarus@SOURCE, lazarus-VARIANT; peers: llama-server and llama-server-VARIANT.
    ours = [s for s in summary.runs if s.startswith("lazarus")]
    peers = [s for s in summary.runs if s.startswith("llama-server")]
    for peer in peers:
        for mine in ours:
            lines += ["", *ratios(summary, workloads, mine, peer)]
    # A before/after pair, or a feature alone (lazarus against lazarus-nodraft).
    sources = [s for s in ours if s.startswith("lazarus@")]
    pairs = [(other, sources[0]) for other in sources[1:]]
    pairs += [("lazarus", other) for other in ours if other.startswith("lazarus-") and "lazarus" in ours]
    for mine, other in pairs:
        lines += ["", *ratios(summary, workloads, mine, other)]
    return "\n".join(lines)


def ratios(summary: Summary, workloads: list[str], ours: str, peer: str) -> list[str]:
    def ratio(w: str, key: str) -> str:
        a, b = summary.median(ours, w, key), summary.median(peer, w, key)
        return f"{a / b:.2f}x" if a and b else "—"

    def share(server: str, w: str) -> str:
        return cell(summary, server, w, "cached_share", 0, 100)

    lines = [
        f"| workload | tok/s {ours} / {peer} | TTFT p50 {ours} / {peer} | cached % {ours} / {peer} |",
        "|---|---:|---:|---:|",
    ]
    for w in workloads:
        lines.append(f"| {w} | {ratio(w, 'tok_s')} | {ratio(w, 'ttft_p50_ms')} | {share(ours, w)} / {share(peer, w)} |")
        if summary.median(ours, w, "ttft_later_p50_ms") or summary.median(peer, w, "ttft_later_p50_ms"):
            lines.append(f"| {w} turns 2+ | — | {ratio(w, 'ttft_later_p50_ms')} | |")
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: the embedded model's F16 copy)")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--llama-server", type=Path, default=DEFAULT_LLAMA_SERVER)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--ctx-per-seq", type=int, default=1024)
    parser.add_argument("--workloads", default=None,
                        help="comma list of cN (any N), shared, rounds, multiturn, agent, in the order run "
                             "(default: c<each --concurrency level>,shared, i.e. c1,c4,c16,shared)")  # fmt: skip
    parser.add_argument("--concurrency", default="1,4,16", help="the cN workloads when --workloads is not given")
    parser.add_argument("--requests", type=int, default=32, help="requests per concurrency level (>= level)")
    parser.add_argument("--max-tokens", type=int, default=64, help="cN and rounds")
    parser.add_argument("--shared-rounds", type=int, default=3)
    parser.add_argument("--shared-max-tokens", type=int, default=16, help="shared and agent")
    parser.add_argument("--reuse-scale", type=float, default=1.0,
                        help="shrink rounds/multiturn/agent (prompts, conversations, clients) for a smoke test")  # fmt: skip
    parser.add_argument("--copy-max-tokens", type=int, default=160, help="copy")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write every run's raw numbers here")
    parser.add_argument("--write", type=Path, default=None, help="write the report (markdown) here")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=BASE:FLAGS",
                        help="also run server BASE with extra FLAGS as NAME, e.g. "
                             "'lazarus-nodraft=lazarus:--draft-max 0' or "
                             "'llama-server-ngram=llama-server:--spec-type ngram-simple' (repeatable; name peers llama-server-* and ours lazarus-* for the ratio tables)")  # fmt: skip
    parser.add_argument("--source", action="append", default=[], metavar="NAME=DIR",
                        help="also run lazarus from another checkout's src/ as server lazarus@NAME (repeatable; "
                             "runs alternate, so a before/after pair shares one sitting)")  # fmt: skip
    args = parser.parse_args()
    args.variants = {}
    for item in args.variant:
        name, _, rest = item.partition("=")
        base, _, extra = rest.partition(":")
        if base not in SERVERS or not name or name in SERVERS:
            parser.error(f"--variant {item!r}: NAME=BASE:FLAGS with BASE one of {', '.join(SERVERS)}")
        args.variants[name] = (base, shlex.split(extra))
    args.sources = {f"lazarus@{n}": d for n, _, d in (item.partition("=") for item in args.source)}
    default = ",".join([*(f"c{c}" for c in args.concurrency.split(",")), "shared"])
    args.workloads = [w for w in (args.workloads or default).split(",") if w]
    for w in args.workloads:
        if w not in ("shared", "copy", *REUSE) and not (w[:1] == "c" and w[1:].isdigit() and int(w[1:]) > 0):
            parser.error(f"unknown workload {w!r}")
    if not 0 < args.reuse_scale <= 1:
        parser.error("--reuse-scale must be in (0, 1]")
    args.sizes = ReuseSizes().scaled(args.reuse_scale)
    if "agent" in args.workloads and args.ctx_per_seq < AGENT_MIN_CTX:
        parser.error(f"agent's system prompt alone is ~1,600 tokens: it needs --ctx-per-seq >= {AGENT_MIN_CTX}")
    if args.model is None:
        from chuk_lazarus.models.embedded import embedded_gguf_path

        args.model = embedded_gguf_path("f16")
    return args


def run_all(names: list[str], args: argparse.Namespace) -> Summary:
    summary = Summary()
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
                print(f"  {w:10s} {r.tok_s:7.1f} tok/s  ttft p50 {r.ttft_p50_ms:7.0f} ms  "
                      f"cached {fmt(None if r.cached_share is None else 100 * r.cached_share, 0):>3s}%  "
                      f"err {r.errors} trunc {r.truncated}  {r.first_error}", file=sys.stderr, flush=True)  # fmt: skip
    return summary


def reuse_line(args: argparse.Namespace) -> str | None:
    z, parts = args.sizes, []
    if "rounds" in args.workloads:
        parts.append(f"rounds: {z.rounds} x the same {z.prompts} prompts at c{z.concurrency}")
    if "multiturn" in args.workloads:
        parts.append(f"multiturn: {z.conversations} conversations x {z.turns} turns, {z.conv_parallel} in flight, "
                     f"max_tokens {MULTITURN_MAX_TOKENS}")  # fmt: skip
    if "agent" in args.workloads:
        parts.append(f"agent: {z.agent_rounds} rounds of {z.agent_requests} on one ~1,500-token system prompt")
    return ("Reuse workloads: " + "; ".join(parts) + "  ") if parts else None


def main() -> int:
    args = parse_args()
    names = [n for n in args.servers.split(",") if n] + list(args.sources) + list(args.variants)
    if "llama-server" in names and not args.llama_server.exists():
        print(f"llama-server not found at {args.llama_server}; see bench/README.md (skipping it)", file=sys.stderr)
        names.remove("llama-server")
    started = datetime.datetime.now(datetime.timezone.utc)
    summary = run_all(names, args)
    workloads = list(dict.fromkeys(w for per_server in summary.runs.values() for w in per_server))
    report = "\n".join(line for line in [
        f"Date: {started:%Y-%m-%d %H:%M} UTC  ",
        f"Machine: {machine()}  ",
        (
            f"Model: `{args.model.name}` — threads {args.threads}, --parallel {args.parallel}, "
            f"{args.ctx_per_seq} tokens of context per sequence, temperature 0, max_tokens {args.max_tokens} "
            f"(shared, agent: {args.shared_max_tokens}), medians of {args.runs} runs  "
        ),
        reuse_line(args),
        f"Command: `python bench/serve_bench.py {' '.join(sys.argv[1:])}`",
        "",
        table(summary, workloads),
    ] if line is not None)  # fmt: skip
    print(report)
    if args.json:
        raw = {s: {w: [asdict(r) for r in rs] for w, rs in ws.items()} for s, ws in summary.runs.items()}
        args.json.write_text(json.dumps(raw, indent=1))
    if args.write:
        args.write.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
