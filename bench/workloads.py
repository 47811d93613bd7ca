"""Load generation for `serve_bench.py`, and the prompt-reuse workloads.

The streaming client (`one_request`), the per-workload summary (`WorkloadResult`) and the concurrent
driver (`run_clients`) serve every workload. The reuse workloads measure what a server keeps of earlier
prompts once more of them have gone by than its slots hold:

  rounds     the same prompts sent in three rounds at c16; round 1 is cold, rounds 2 and 3 repeat it
             exactly (rounds1, rounds2, rounds3)
  multiturn  conversations of several turns, a few at a time; each turn sends the whole history so far
             (the model's own earlier answers included) and one new user message. The turns of all
             conversations interleave, so between two turns of one conversation the others have used
             more slots than the server has
  copy       c1, answers that reuse the prompt's own text: repeat, rewrite or extract from a passage
             made fresh for every run (what prompt-lookup drafting is for)
  agent      one long system prompt listing tool definitions as text, short distinct questions, in
             rounds of concurrent requests (agent1 cold, agent2-3 the later rounds)

Every request asks for `stream_options.include_usage`; the cached-token share is the sum of
`usage.prompt_tokens_details.cached_tokens` over the sum of `usage.prompt_tokens` (falling back to
llama-server's `timings.cache_n`), or None when a server reports neither. All traffic goes to the URL
given, which `serve_bench.py` always makes 127.0.0.1; every loop is bounded by the sizes.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

Messages = list[dict[str, str]]
TOPICS = ["cats", "the ocean", "Paris", "volcanoes", "bread", "music", "rain", "the moon", "trains", "chess",
          "gardens", "winter", "coffee", "robots", "rivers", "books", "bridges", "owls", "deserts", "tea",
          "castles", "bees", "glaciers", "kites", "lighthouses", "maps", "pianos", "comets", "forests",
          "markets", "whales", "clocks"]  # fmt: skip
MULTITURN_MAX_TOKENS = 64


# ---- one streamed request -----------------------------------------------------------------------


@dataclass
class RequestResult:
    ok: bool
    truncated: bool
    ttft: float | None
    tokens: int
    error: str = ""
    prompt_tokens: int = 0
    cached_tokens: int | None = None  # None: the server did not say
    gaps: list[float] = field(default_factory=list)  # seconds between streamed content chunks
    text: str = ""


def prompt_usage(usage: dict[str, Any], timings: dict[str, Any]) -> tuple[int, int | None]:
    """(prompt tokens, cached prompt tokens or None) from the final chunk's usage, else llama-server's timings."""
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    prompt = usage.get("prompt_tokens")
    if cached is None and "cache_n" in timings:
        cached = timings["cache_n"]
    if prompt is None and "prompt_n" in timings:
        prompt = timings["prompt_n"] + timings.get("cache_n", 0)
    return int(prompt or 0), None if cached is None else int(cached)


async def one_request(
    client: httpx.AsyncClient, url: str, messages: Messages, max_tokens: int
) -> RequestResult:
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
    last = start
    gaps: list[float] = []
    text: list[str] = []
    usage: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    finished = False
    try:
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                detail = (await reply.aread())[:160].decode(errors="replace")
                return RequestResult(False, False, None, 0, f"HTTP {reply.status_code}: {detail}")
            async for line in reply.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line[6:] == "[DONE]":
                    break
                frame = json.loads(line[6:])
                usage = frame.get("usage") or usage
                timings = frame.get("timings") or timings
                for choice in frame.get("choices") or []:
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        now = time.perf_counter()
                        if ttft is None:
                            ttft = now - start
                        else:
                            gaps.append(now - last)
                        last = now
                        text.append(content)
                    if choice.get("finish_reason"):
                        finished = True
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        return RequestResult(False, True, ttft, len(text), type(exc).__name__)
    tokens = usage.get("completion_tokens")
    prompt, cached = prompt_usage(usage, timings)
    return RequestResult(True, not finished, ttft, len(text) if tokens is None else tokens, "",
                         prompt, cached, gaps, "".join(text))  # fmt: skip


# ---- summaries ----------------------------------------------------------------------------------


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
    itl_p50_ms: float | None = None  # between streamed content chunks (one token each on these servers)
    itl_p99_ms: float | None = None
    prompt_tokens: int = 0
    cached_tokens: int | None = None
    cached_share: float | None = None  # cached_tokens / prompt_tokens; None: the server reports nothing
    ttft_later_p50_ms: float | None = None  # multiturn: TTFT p50 of turns 2 and later
    first_error: str = ""


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


def summarize(
    results: list[RequestResult], elapsed: float, health_ms: list[float] | None = None
) -> WorkloadResult:
    ttfts = [r.ttft * 1000 for r in results if r.ttft is not None]
    gaps = [g * 1000 for r in results for g in r.gaps]
    tokens = sum(r.tokens for r in results if r.ok)
    reported = [r.cached_tokens for r in results if r.ok and r.cached_tokens is not None]
    prompt = sum(r.prompt_tokens for r in results if r.ok)
    cached = sum(reported) if reported else None
    return WorkloadResult(
        tok_s=tokens / elapsed,
        req_s=sum(r.ok and not r.truncated for r in results) / elapsed,
        ttft_p50_ms=percentile(ttfts, 0.5),
        ttft_p95_ms=percentile(ttfts, 0.95),
        errors=sum(not r.ok for r in results),
        truncated=sum(r.ok and r.truncated for r in results),
        requests=len(results),
        tokens=tokens,
        health_p99_ms=percentile(health_ms, 0.99) if health_ms is not None else None,
        itl_p50_ms=percentile(gaps, 0.5) if gaps else None,
        itl_p99_ms=percentile(gaps, 0.99) if gaps else None,
        prompt_tokens=prompt,
        cached_tokens=cached,
        cached_share=cached / prompt if cached is not None and prompt else None,
        first_error=next((r.error for r in results if r.error), ""),
    )


class CpuMeter:
    """The server's CPU time since the last `charge`, spread over a result's completion tokens."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mark = process_cpu_s(pid)

    def charge(self, result: WorkloadResult) -> WorkloadResult:
        now = process_cpu_s(self.pid)
        if self.mark is not None and now is not None and result.tokens:
            result.cpu_ms_per_tok = 1000 * (now - self.mark) / result.tokens
        self.mark = now
        return result


def client_pool(n: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    return httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits)


async def drive_clients(url: str, clients: list[list[Messages]], max_tokens: int,
                        health: bool = False) -> tuple[list[RequestResult], float, list[float] | None]:  # fmt: skip
    """Each client sends its conversations one after another; all clients run concurrently."""
    results: list[RequestResult] = []
    health_ms: list[float] = []
    async with client_pool(len(clients)) as client:
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

        async def client_loop(prompts: list[Messages]) -> None:
            for messages in prompts:
                results.append(await one_request(client, url, messages, max_tokens))

        prober = asyncio.create_task(probe_health()) if health else None
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in clients))
        elapsed = time.perf_counter() - start
        done.set()
        if prober:
            await prober
    return results, elapsed, health_ms if health else None


async def run_clients(url: str, clients: list[list[Messages]], max_tokens: int,
                      health: bool = False) -> WorkloadResult:  # fmt: skip
    return summarize(*await drive_clients(url, clients, max_tokens, health))


# ---- prompt-reuse workloads ---------------------------------------------------------------------


@dataclass
class ReuseSizes:
    prompts: int = 32  # rounds: distinct prompts per round
    concurrency: int = 16  # rounds: clients
    rounds: int = 3
    conversations: int = 24  # multiturn
    turns: int = 5
    conv_parallel: int = 8  # multiturn: requests in flight (a semaphore)
    agent_requests: int = 16  # agent: concurrent requests per round
    agent_rounds: int = 3

    def scaled(self, scale: float) -> ReuseSizes:
        """Fewer prompts, conversations and clients (for a smoke test); turns and rounds stay."""

        def s(n: int, least: int) -> int:
            return max(least, round(n * scale))

        return ReuseSizes(s(self.prompts, 2), s(self.concurrency, 1), self.rounds, s(self.conversations, 2),
                          self.turns, s(self.conv_parallel, 1), s(self.agent_requests, 2), self.agent_rounds)  # fmt: skip


NOTES = ["is older than most people think", "changes with the seasons", "appears in many old songs",
         "was once measured by hand", "has a long history in trade", "is studied at universities",
         "looks different at night", "inspired a famous painting", "is hard to describe in words",
         "is loved by children", "was named by sailors", "has its own museum"]  # fmt: skip


def rounds_prompts(n: int, salt: str) -> list[Messages]:
    """n distinct prompts of ~230 tokens each, distinct from their first token."""
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        notes = " ".join(f"Note {j + 1}: {topic} {NOTES[(i + j) % len(NOTES)]}." for j in range(18))
        text = f"({salt}{i}) Here are some notes about {topic}. {notes} Using the notes, write a long story."
        out.append([{"role": "user", "content": text}])
    return out


async def run_rounds(
    url: str, sizes: ReuseSizes, salt: str, pid: int, max_tokens: int
) -> dict[str, WorkloadResult]:
    prompts = rounds_prompts(sizes.prompts, salt)
    clients = [prompts[c :: sizes.concurrency] for c in range(min(sizes.concurrency, len(prompts)))]
    meter, out = CpuMeter(pid), {}
    for r in range(sizes.rounds):
        out[f"rounds{r + 1}"] = meter.charge(await run_clients(url, clients, max_tokens))
    return out


FOLLOW_UPS = ["Tell me about {topic}.", "What is the most surprising thing about {topic}?",
              "How would you explain that to a child?", "Give me three words that go with it, and say why.",
              "Sum up our conversation in one sentence."]  # fmt: skip


async def run_multiturn(url: str, sizes: ReuseSizes, salt: str, pid: int) -> dict[str, WorkloadResult]:
    """Conversations whose turns queue on one semaphore (FIFO), so they interleave round-robin."""
    gate = asyncio.Semaphore(sizes.conv_parallel)
    results: list[tuple[int, RequestResult]] = []
    meter = CpuMeter(pid)
    async with client_pool(sizes.conv_parallel) as client:

        async def conversation(k: int) -> None:
            topic = TOPICS[k % len(TOPICS)]
            system = f"({salt}{k}) You are a friendly guide who knows a lot about {topic}. Answer clearly."
            history = [{"role": "system", "content": system}]
            for turn in range(sizes.turns):
                history.append(
                    {"role": "user", "content": FOLLOW_UPS[turn % len(FOLLOW_UPS)].format(topic=topic)}
                )
                async with gate:
                    result = await one_request(client, url, list(history), MULTITURN_MAX_TOKENS)
                results.append((turn, result))
                history.append({"role": "assistant", "content": result.text or "(no answer)"})

        start = time.perf_counter()
        await asyncio.gather(*(conversation(k) for k in range(sizes.conversations)))
        elapsed = time.perf_counter() - start
    out = meter.charge(summarize([r for _, r in results], elapsed))
    later = [r.ttft * 1000 for turn, r in results if turn > 0 and r.ttft is not None]
    out.ttft_later_p50_ms = percentile(later, 0.5) if later else None
    return {"multiturn": out}


TOOLS = [
    ("get_weather", "Look up the current weather and a short forecast for a place.",
     [("location", "string", "City and country, for example 'Paris, France'."),
      ("unit", "string", "Either 'celsius' or 'fahrenheit'; defaults to celsius."),
      ("days", "integer", "How many days of forecast to include, from 0 to 7.")]),
    ("search_web", "Search the public web and return the titles and snippets of the best results.",
     [("query", "string", "The search terms, as a user would type them."),
      ("max_results", "integer", "How many results to return, from 1 to 20."),
      ("site", "string", "Optional domain to restrict the search to.")]),
    ("send_email", "Send an email on behalf of the user to one or more recipients.",
     [("to", "array of strings", "Email addresses of the recipients."),
      ("subject", "string", "The subject line, at most 120 characters."),
      ("body", "string", "The plain-text body of the message.")]),
    ("create_event", "Create an event in the user's calendar.",
     [("title", "string", "A short title for the event."),
      ("start", "string", "Start time in ISO 8601 format, for example '2025-03-01T09:00'."),
      ("duration_minutes", "integer", "Length of the event in minutes.")]),
    ("convert_currency", "Convert an amount of money from one currency to another at today's rate.",
     [("amount", "number", "The amount to convert."),
      ("from_currency", "string", "Three-letter ISO code of the source currency."),
      ("to_currency", "string", "Three-letter ISO code of the target currency.")]),
    ("translate_text", "Translate a piece of text into another language.",
     [("text", "string", "The text to translate."),
      ("target_language", "string", "The language to translate into, for example 'German'."),
      ("formal", "boolean", "Whether to use a formal register where the language has one.")]),
    ("lookup_order", "Find an order in the shop's database and report its status.",
     [("order_id", "string", "The order number printed on the receipt."),
      ("email", "string", "The email address used for the order."),
      ("include_items", "boolean", "Whether to list the items in the order.")]),
    ("set_reminder", "Set a reminder that notifies the user at a given time.",
     [("message", "string", "What the reminder should say."),
      ("time", "string", "When to notify, in ISO 8601 format."),
      ("repeat", "string", "One of 'none', 'daily', 'weekly' or 'monthly'.")]),
]  # fmt: skip


def agent_system_prompt() -> str:
    """~1,500 tokens: 8 tool definitions as text, deterministic (no `tools` field: servers differ there)."""
    intro = ("You are an assistant that can call tools. To call a tool, answer with one line of JSON of the "
             'form {"tool": NAME, "arguments": {...}} and nothing else. If no tool fits, answer in one short '
             "sentence. These are the tools you can call:")  # fmt: skip
    parts = [intro]
    for n, (name, purpose, params) in enumerate(TOOLS, 1):
        lines = [f"Tool {n}: {name}. {purpose} Call it only when the user's request needs it.", "Arguments:"]
        for pname, ptype, doc in params:
            lines.append(
                f"- {pname} ({ptype}, required): {doc} If the user did not give it, ask for it first."
            )
        example = ", ".join(f'"{p}": ...' for p, _, _ in params)
        lines.append(f'Returns a JSON object describing the result. Example call: {{"tool": "{name}", '
                     f'"arguments": {{{example}}}}}. Never invent results for {name}; wait for the tool.')  # fmt: skip
        parts.append("\n".join(lines))
    parts.append(
        "Keep answers short. Never call more than one tool per answer. Reply in the user's language."
    )
    return "\n\n".join(parts)


QUESTIONS = ["What is the weather in {x}?", "Search the web for news about {x}.",
             "Email my team that the talk on {x} moved.", "Put a meeting about {x} in my calendar.",
             "How much is 50 euros in dollars for a trip to see {x}?", "Translate 'I like {x}' into German.",
             "Where is my order of a book on {x}?", "Remind me tomorrow to read about {x}."]  # fmt: skip


async def run_agent(
    url: str, sizes: ReuseSizes, salt: str, pid: int, max_tokens: int
) -> dict[str, WorkloadResult]:
    system = agent_system_prompt()
    meter = CpuMeter(pid)
    first: WorkloadResult | None = None
    later: list[RequestResult] = []
    later_s = 0.0
    for r in range(sizes.agent_rounds):
        clients = []
        for i in range(sizes.agent_requests):
            q = QUESTIONS[i % len(QUESTIONS)].format(x=TOPICS[(r * sizes.agent_requests + i) % len(TOPICS)])
            clients.append([[{"role": "system", "content": system},
                             {"role": "user", "content": f"(ticket {salt}{r}.{i}) {q}"}]])  # fmt: skip
        results, elapsed, _ = await drive_clients(url, clients, max_tokens)
        if r == 0:
            first = meter.charge(summarize(results, elapsed))
        else:
            later, later_s = later + results, later_s + elapsed
    out = {"agent1": first} if first else {}
    if later:
        out[f"agent2-{sizes.agent_rounds}"] = meter.charge(summarize(later, later_s))
    return out


# ---- copy-heavy -----------------------------------------------------------------------------------

COPY_TASKS = (
    "Repeat the following passage exactly, word for word:",
    "Rewrite the following passage, keeping every sentence but changing 'the' to 'this' where it fits:",
    "Extract every sentence of the following passage that mentions a number, one per line, unchanged:",
    "Copy the following passage, then add one sentence at the end:",
)


def copy_passage(seed: str, k: int) -> str:
    """A fresh passage per run: numbered facts about topics, so no cache on either side has seen it."""
    topics = [TOPICS[(k * 5 + i) % len(TOPICS)] for i in range(6)]
    return " ".join(
        f"Fact {seed}-{i}: the {t} of district {k * 7 + i} were counted at {(k + 3) * (i + 11)} in the "
        f"spring survey, and the results were sent to the regional office." for i, t in enumerate(topics)
    )


async def run_copy(url: str, salt: str, max_tokens: int, requests: int = 8) -> WorkloadResult:
    """One client, one request at a time: each asks for an answer made mostly of the prompt's text."""
    prompts = [
        [{"role": "user", "content": f"{COPY_TASKS[k % len(COPY_TASKS)]}\n\n{copy_passage(salt, k)}"}]
        for k in range(requests)
    ]
    return await run_clients(url, [prompts], max_tokens)
