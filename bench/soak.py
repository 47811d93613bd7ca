"""Soak test: mixed traffic on all three protocols for a long while, watching the server's resources.

Starts `lazarus serve --protocols openai,ollama,anthropic` on the embedded model (or uses `--url`),
and runs `--clients` loops for `--minutes`. Each loop picks a scenario at random:

  openai chat, openai stream, openai tools (auto and required), openai json_schema, openai n=2,
  anthropic stream, anthropic tool_choice any, ollama chat stream, ollama format, a stream the client
  abandons after two frames, and bad requests (malformed JSON, 80-deep nesting, invalid UTF-8, an
  unknown model, a max_tokens the context cannot hold) that must be 4xx.

A request is *lost* when it gets no complete answer: a transport error, a stream without its end
(`[DONE]`, `message_stop`, `done: true`), or a non-JSON body. Every 10 s it records the server's RSS,
open file descriptors, busy slots and queue (from /health) and its 5xx count so far. At the end, once
idle, every slot must be free. Writes a PNG plot and a markdown table (`--write docs/reliability.md`
replaces the part between the soak markers).

    python bench/soak.py --minutes 30 --write docs/reliability.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.contract.server import LazarusProcess  # after the path is set

MODEL = "smollm2-135m-instruct"
MARK_BEGIN, MARK_END = "<!-- soak:begin -->", "<!-- soak:end -->"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
EVENT = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 40},
         "day": {"type": "string", "format": "date"}, "guests": {"type": "integer", "minimum": 0, "maximum": 50}},
         "required": ["title", "day", "guests"]}  # fmt: skip
QUESTIONS = ["What is the capital of France?", "Name three colours.", "Write a haiku about rain.",
             "What is 12 times 12?", "Tell me a fact about owls.", "Plan a party for Friday.",
             "What's the weather like in Oslo?", "Summarise: the cat sat on the mat."]  # fmt: skip


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)  # 5xx answers
    wrong: Counter[str] = field(default_factory=Counter)  # a bad request not refused with a 4xx
    notes: list[str] = field(default_factory=list)

    def fail(self, counter: Counter[str], scenario: str, why: str) -> None:
        counter[scenario] += 1
        if len(self.notes) < 50:
            self.notes.append(f"{scenario}: {why}")


async def _json(client: httpx.AsyncClient, tally: Tally, scenario: str, path: str, body: object) -> None:
    response = await client.post(path, json=body)
    if response.status_code >= 500:
        tally.fail(tally.server_errors, scenario, f"{response.status_code} {response.text[:200]}")
    elif response.status_code != 200:
        tally.fail(tally.lost, scenario, f"unexpected {response.status_code} {response.text[:200]}")
    else:
        response.json()


async def _stream(client: httpx.AsyncClient, tally: Tally, scenario: str, path: str, body: object,
                  end: str, abandon_after: int | None = None) -> None:  # fmt: skip
    async with client.stream("POST", path, json=body) as response:
        if response.status_code >= 500:
            tally.fail(tally.server_errors, scenario, f"{response.status_code}")
            return
        if response.status_code != 200:
            tally.fail(tally.lost, scenario, f"unexpected {response.status_code}")
            return
        frames = 0
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            frames += 1
            if abandon_after is not None and frames >= abandon_after:
                return  # leaving: the server must cancel the generation and free the slot
            if end in line:
                return
    tally.fail(tally.lost, scenario, "the stream ended without its final frame")


async def _bad(client: httpx.AsyncClient, tally: Tally, scenario: str, path: str, content: bytes) -> None:
    response = await client.post(path, content=content, headers={"content-type": "application/json"})
    if response.status_code >= 500:
        tally.fail(tally.server_errors, scenario, f"{response.status_code} {response.text[:200]}")
    elif not 400 <= response.status_code < 500:
        tally.fail(tally.wrong, scenario, f"{response.status_code} for a bad request")


def scenarios(rng: random.Random) -> dict[str, object]:
    q = rng.choice(QUESTIONS)
    deep = ("[" * 80 + "]" * 80).encode()
    return {
        "openai_chat": ("json", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 48}),
        "openai_stream": ("stream", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 64,
                          "stream": True}, "[DONE]"),
        "openai_tools": ("json", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 64,
                         "tools": [WEATHER], "tool_choice": rng.choice(["auto", "required"])}),
        "openai_json_schema": ("json", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 96,
                               "response_format": {"type": "json_schema", "json_schema": {"name": "e", "schema": EVENT}}}),
        "openai_n2": ("json", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 32, "n": 2,
                      "temperature": 0.8}),
        "anthropic_stream": ("stream", "/v1/messages", {"model": MODEL, "messages": user(q), "max_tokens": 64,
                             "stream": True}, "message_stop"),
        "anthropic_tool_any": ("json", "/v1/messages", {"model": MODEL, "messages": user(q), "max_tokens": 64,
                               "tools": [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}],  # type: ignore[index]
                               "tool_choice": {"type": "any"}}),
        "ollama_stream": ("stream", "/api/chat", {"model": MODEL, "messages": user(q), "options": {"num_predict": 48}},
                          '"done":true'),
        "ollama_format": ("json", "/api/chat", {"model": MODEL, "messages": user(q), "stream": False, "format": EVENT,
                          "options": {"num_predict": 96}}),
        "abandoned_stream": ("abandon", "/v1/chat/completions", {"model": MODEL, "messages": user(q), "max_tokens": 200,
                             "stream": True}, "[DONE]"),
        "bad_json": ("bad", rng.choice(["/v1/chat/completions", "/v1/messages", "/api/chat"]), b'{"model": '),
        "bad_deep": ("bad", rng.choice(["/v1/chat/completions", "/v1/messages", "/api/chat"]), deep),
        "bad_utf8": ("bad", rng.choice(["/v1/chat/completions", "/v1/messages", "/api/chat"]),
                     b'{"model": "' + MODEL.encode() + b'", "messages": [{"role": "user", "content": "\xff\xfe"}]}'),
        "bad_model": ("bad", "/v1/chat/completions", json.dumps({"model": "nope", "messages": user(q)}).encode()),
        "bad_max_tokens": ("bad", "/v1/chat/completions", json.dumps({"model": MODEL, "messages": user(q),
                           "max_tokens": 10**7}).encode()),
    }  # fmt: skip


async def client_loop(base_url: str, deadline: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        while time.monotonic() < deadline:
            table = scenarios(rng)
            name = rng.choice(list(table))
            kind, path, body, *rest = table[name]  # type: ignore[misc]
            tally.sent[name] += 1
            try:
                if kind == "json":
                    await _json(client, tally, name, path, body)
                elif kind == "stream":
                    await _stream(client, tally, name, path, body, rest[0])
                elif kind == "abandon":
                    await _stream(client, tally, name, path, body, rest[0], abandon_after=3)
                else:
                    await _bad(client, tally, name, path, body)
            except (httpx.HTTPError, ValueError) as exc:
                tally.fail(tally.lost, name, f"{type(exc).__name__}: {exc}")


@dataclass
class Sample:
    t: float
    rss_mib: float
    fds: int
    active: int
    queued: int
    cache_mib: float  # the prompt cache beyond the slots (--cache-ram), as the server reports it

    @property
    def rest_mib(self) -> float:
        """RSS without the prompt cache: what must stay flat (the cache grows to its bound by design)."""
        return self.rss_mib - self.cache_mib


def read_process(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return rss_kib / 1024, len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def sampler(base_url: str, pid: int, deadline: float, every: float, out: list[Sample]) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        while True:
            load = (await client.get("/health")).json()["load"]
            rss, fds = read_process(pid)
            cache = load.get("prompt_cache_bytes", 0) / 2**20
            out.append(Sample(time.monotonic() - started, rss, fds, load["active"], load["queued"], cache))
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(every)


def plot(samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    axes[0].plot(minutes, [s.rss_mib for s in samples], label="RSS")
    axes[0].plot(minutes, [s.cache_mib for s in samples], label="prompt cache (--cache-ram)")
    axes[0].plot(minutes, [s.rest_mib for s in samples], label="RSS - prompt cache")
    axes[0].set_ylabel("MiB")
    axes[0].legend()
    axes[1].plot(minutes, [s.fds for s in samples])
    axes[1].set_ylabel("open fds")
    axes[2].plot(minutes, [s.active for s in samples], label="busy slots")
    axes[2].plot(minutes, [s.queued for s in samples], label="queued")
    axes[2].set_ylabel("requests")
    axes[2].set_xlabel("minutes")
    axes[2].legend()
    fig.suptitle("lazarus serve under mixed traffic (bench/soak.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def report(tally: Tally, samples: list[Sample], idle: dict[str, int], args: argparse.Namespace, png: str) -> str:
    warm = [s for s in samples if s.t >= args.warmup * 60] or samples
    first, last = warm[0], warm[-1]
    growth = (last.rss_mib - first.rss_mib) / first.rss_mib * 100
    rest_growth = (last.rest_mib - first.rest_mib) / first.rest_mib * 100
    total = sum(tally.sent.values())
    rows = [
        f"{MARK_BEGIN}",
        (f"Run: `python bench/soak.py --minutes {args.minutes:g} --clients {args.clients}` "
         f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.server_args or 'default flags'})."),
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests sent | {total} ({', '.join(f'{k} {v}' for k, v in sorted(tally.sent.items()))}) |",
        f"| 5xx answers | {sum(tally.server_errors.values())} |",
        f"| lost requests (no complete answer) | {sum(tally.lost.values())} |",
        f"| bad requests not refused with a 4xx | {sum(tally.wrong.values())} |",
        f"| RSS after warm-up ({args.warmup:g} min) | {first.rss_mib:.0f} MiB -> {last.rss_mib:.0f} MiB ({growth:+.1f}%) |",
        f"| RSS max | {max(s.rss_mib for s in samples):.0f} MiB |",
        f"| prompt cache after warm-up | {first.cache_mib:.0f} MiB -> {last.cache_mib:.0f} MiB (max {max(s.cache_mib for s in samples):.0f}) |",
        f"| RSS minus prompt cache after warm-up | {first.rest_mib:.0f} MiB -> {last.rest_mib:.0f} MiB ({rest_growth:+.1f}%) |",
        f"| open fds after warm-up | {first.fds} -> {last.fds} (min {min(s.fds for s in warm)}, max {max(s.fds for s in warm)}) |",
        f"| busy slots (median of samples) | {statistics.median(s.active for s in samples):g} |",
        f"| queue (max of samples) | {max(s.queued for s in samples)} |",
        f"| once idle | {idle['active']} busy slots, {idle['queued']} queued |",
        "",
        f"![soak plot]({png})",
    ]
    if tally.notes:
        rows += ["", "Failures (first 50):", "", *[f"- {n}" for n in tally.notes]]
    rows.append(MARK_END)
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> int:
    server = None
    if args.url:
        base_url, pid = args.url, args.pid
    else:
        extra = args.server_args.split() if args.server_args else []
        server = LazarusProcess(["--protocols", "openai,ollama,anthropic", *extra])
        base_url, pid = server.base_url, server.process.pid
    try:
        tally = Tally()
        samples: list[Sample] = []
        deadline = time.monotonic() + args.minutes * 60
        await asyncio.gather(
            sampler(base_url, pid, deadline, args.every, samples),
            *(client_loop(base_url, deadline, tally, seed) for seed in range(args.clients)),
        )
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            for _ in range(100):  # abandoned streams are cancelled within a step; allow a moment
                idle = (await client.get("/health")).json()["load"]
                if not idle["active"] and not idle["queued"]:
                    break
                await asyncio.sleep(0.1)
    finally:
        if server is not None:
            server.stop()
    png = Path(args.plot)
    plot(samples, png)
    text = report(tally, samples, idle, args, png.name)
    print(text)
    if args.write:
        doc = Path(args.write)
        old = doc.read_text() if doc.exists() else f"{MARK_BEGIN}\n{MARK_END}\n"
        head, _, rest = old.partition(MARK_BEGIN)
        _, _, tail = rest.partition(MARK_END)
        doc.write_text(head + text + tail)
    failed = sum(tally.server_errors.values()) + sum(tally.lost.values()) + sum(tally.wrong.values())
    return 1 if failed or idle["active"] or idle["queued"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between resource samples")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before RSS growth is measured")
    parser.add_argument("--server-args", default="--parallel 4", help="extra `lazarus serve` flags")
    parser.add_argument("--url", help="soak a server already running here instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for RSS and fds")
    parser.add_argument("--plot", default=str(ROOT / "docs" / "soak.png"))
    parser.add_argument("--write", help="markdown file whose soak section is replaced by the result")
    args = parser.parse_args()
    if args.url and not args.pid:
        parser.error("--url needs --pid (RSS and descriptors are read from /proc/PID)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
