"""Structured outputs are exact on every schema of the corpus (tests/contract/schema_corpus.py), on both
backends, through every entry point: OpenAI `response_format` json_schema, an OpenAI forced tool call,
Anthropic `tool_choice: any` and Ollama `format`, each streamed and not.

Every output must parse and validate with `jsonschema` (formats checked) and end on its own (a
`length` finish is a failure: cut-off JSON is not valid); every schema in `REFUSED` must be a 400
naming its keyword. One server per backend; all requests go in concurrently.

How much of the cross product runs (`LAZARUS_CORPUS_MODE`):
  - `full` (the default on llama.cpp; 592/592 in 343 s on 2 quiet cores): every schema through every
    entry point, streamed and not (592 requests per backend);
  - `each`: every schema through every entry point once, streamed or not in
    turn, so each entry point sees half the corpus streamed (296);
  - `rotate` (the default on transformers, which decodes several times slower on a CPU): every schema
    once, through the entry points and stream modes in turn (74). `full` on transformers: 592/592 in
    637 s on 2 quiet cores.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest

from tests.contract.schema_corpus import CORPUS, REFUSED
from tests.contract.server import LazarusProcess

pytestmark = [pytest.mark.contract, pytest.mark.timeout(2700)]

ENTRY_POINTS = ("openai_json_schema", "openai_tool", "anthropic_tool_any", "ollama_format")
MAX_TOKENS = 320
MODEL = "smollm2-135m-instruct"  # both backends serve the embedded model under this name (conftest)
IN_FLIGHT = 16
VERBOSE = os.environ.get("LAZARUS_CORPUS_VERBOSE") == "1"  # print every case as it completes (with -s)

# Draft 2020-12's own checkers, functions and all. Naming the formats (`FormatChecker(names)`) would
# look each name up in the class-wide table, where `time` is draft 3's `%H:%M:%S` check, which
# rejects the fractions and offsets RFC 3339 allows.
FORMATS = jsonschema.FormatChecker([])
FORMATS.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


# Checkers jsonschema takes from optional packages (rfc3339-validator, rfc3986-validator, fqdn); ours
# when those are not installed, so formats are never skipped silently.
if "date-time" not in FORMATS.checkers:

    @FORMATS.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True


if "time" not in FORMATS.checkers:

    @FORMATS.checks("time", raises=ValueError)
    def _time(value: object) -> bool:
        return not isinstance(value, str) or _date_time(f"1970-01-01T{value}")


if "uri" not in FORMATS.checkers:

    @FORMATS.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", parts.scheme)) and not re.search(r"[\s<>\"{}|\\^`]", value)


if "hostname" not in FORMATS.checkers:

    @FORMATS.checks("hostname")
    def _hostname(value: object) -> bool:
        return not isinstance(value, str) or bool(_HOSTNAME.match(value))


if "ipv6" not in FORMATS.checkers:

    @FORMATS.checks("ipv6", raises=ValueError)
    def _ipv6(value: object) -> bool:
        return not isinstance(value, str) or bool(ipaddress.IPv6Address(value))


@pytest.fixture(scope="module")
def corpus_server(serve: Any) -> Any:
    # One thread: on a shared 2-core machine, llama.cpp threads that spin-wait for each other while
    # descheduled make a step up to 50x slower (measured); one thread degrades gracefully.
    server = serve("--protocols", "openai,ollama,anthropic", "--parallel", "8", "--threads", "1")
    yield server
    server.stop()


def _request(entry: str, schema: dict[str, Any], prompt: str, stream: bool) -> tuple[str, dict[str, Any]]:
    user = [{"role": "user", "content": f"{prompt} Answer in JSON."}]
    if entry == "openai_json_schema":
        return "/v1/chat/completions", {
            "model": MODEL, "messages": user, "stream": stream, "temperature": 0, "max_tokens": MAX_TOKENS,
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}},
        }  # fmt: skip
    if entry == "openai_tool":
        tool = {"type": "function", "function": {"name": "emit", "description": "Record the answer", "parameters": schema}}
        return "/v1/chat/completions", {
            "model": MODEL, "messages": user, "stream": stream, "temperature": 0, "max_tokens": MAX_TOKENS,
            "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "emit"}},
        }  # fmt: skip
    if entry == "anthropic_tool_any":
        return "/v1/messages", {
            "model": MODEL, "messages": user, "stream": stream, "temperature": 0, "max_tokens": MAX_TOKENS,
            "tools": [{"name": "emit", "description": "Record the answer", "input_schema": schema}],
            "tool_choice": {"type": "any"},
        }  # fmt: skip
    return "/api/chat", {
        "model": MODEL, "messages": user, "stream": stream, "format": schema,
        "options": {"temperature": 0, "num_predict": MAX_TOKENS},
    }  # fmt: skip


def _sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line[6:] != "[DONE]"]


def _read(entry: str, stream: bool, body: str) -> tuple[str | None, str]:
    """(the JSON text produced, the finish reason) from one response."""
    if entry in ("openai_json_schema", "openai_tool"):
        if not stream:
            choice = json.loads(body)["choices"][0]
            message = choice["message"]
            calls = message.get("tool_calls") or []
            out = calls[0]["function"]["arguments"] if entry == "openai_tool" and calls else message.get("content")
            return out, choice["finish_reason"]
        content, args, finish = "", "", ""
        for chunk in _sse(body):
            for choice in chunk.get("choices", []):
                delta = choice.get("delta") or {}
                content += delta.get("content") or ""
                for call in delta.get("tool_calls") or []:
                    if call.get("index", 0) == 0:
                        args += (call.get("function") or {}).get("arguments") or ""
                finish = choice.get("finish_reason") or finish
        return (args if entry == "openai_tool" else content) or None, finish
    if entry == "anthropic_tool_any":
        if not stream:
            message = json.loads(body)
            uses = [b for b in message["content"] if b["type"] == "tool_use"]
            return (json.dumps(uses[0]["input"]) if uses else None), message["stop_reason"]
        partial, finish, started = "", "", False
        for event in _sse(body):
            if event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
                started = not partial
            elif event["type"] == "content_block_delta" and event["delta"]["type"] == "input_json_delta" and started:
                partial += event["delta"]["partial_json"]
            elif event["type"] == "content_block_stop":
                started = False
            elif event["type"] == "message_delta":
                finish = event["delta"].get("stop_reason") or finish
        return partial or None, finish
    lines = [json.loads(line) for line in body.splitlines() if line.strip()] if stream else [json.loads(body)]
    content = "".join((line.get("message") or {}).get("content") or "" for line in lines)
    return content or None, lines[-1].get("done_reason") or ""


_FINISHED = {"stop", "tool_calls", "tool_use", "end_turn"}


async def _one(client: httpx.AsyncClient, gate: asyncio.Semaphore, entry: str, stream: bool, name: str,
               schema: dict[str, Any], prompt: str, refused: str | None) -> str:
    """'ok', or what went wrong."""
    path, payload = _request(entry, schema, prompt, stream)
    async with gate:
        started = time.monotonic()
        try:
            response = await client.post(path, json=payload)
        except httpx.HTTPError as exc:  # one case's failure, not the run's
            response = None
            result = f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started
    if response is not None:
        result = _check(entry, stream, response, schema, refused)
    if VERBOSE or result != "ok":
        print(f"  {name} via {entry}{'/stream' if stream else ''}: {elapsed:.1f}s {result}", flush=True)
    return result


def _check(
    entry: str, stream: bool, response: httpx.Response, schema: dict[str, Any], refused: str | None
) -> str:
    if refused is not None:
        if response.status_code != 400:
            return f"expected a 400 naming {refused!r}, got {response.status_code}: {response.text[:200]}"
        return "ok" if refused in response.text else f"the 400 does not name {refused!r}: {response.text[:200]}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    out, finish = _read(entry, stream, response.text)
    if finish not in _FINISHED:
        return f"finish {finish!r}: {(out or '')[:200]!r}"
    if out is None:
        return "no output"
    try:
        value = json.loads(out)
    except json.JSONDecodeError:
        return f"not JSON: {out[:200]!r}"
    try:
        jsonschema.validate(value, schema, format_checker=FORMATS)
    except jsonschema.ValidationError as exc:
        return f"invalid: {exc.message[:200]} in {out[:200]!r}"
    return "ok"


def _modes(mode: str, i: int, j: int) -> tuple[bool, ...]:
    """Whether schema i goes through entry point j streamed, not streamed, both, or not at all."""
    if mode == "full":
        return (False, True)
    if mode == "rotate":
        return ((i // len(ENTRY_POINTS)) % 2 == 1,) if i % len(ENTRY_POINTS) == j else ()
    return ((i + j) % 2 == 1,)


def test_every_schema_every_entry_point(corpus_server: LazarusProcess, backend: str) -> None:
    mode = os.environ.get("LAZARUS_CORPUS_MODE") or ("full" if backend == "llama.cpp" else "rotate")
    cases = [(entry, stream, name, schema, prompt, None) for i, (name, _, schema, prompt) in enumerate(CORPUS)
             for j, entry in enumerate(ENTRY_POINTS) for stream in _modes(mode, i, j)]  # fmt: skip
    cases += [(entry, stream, name, schema, "Anything.", keyword) for i, (name, keyword, schema) in enumerate(REFUSED)
              for j, entry in enumerate(ENTRY_POINTS) for stream in _modes(mode, i, j)]  # fmt: skip

    async def run_all() -> list[str]:
        gate = asyncio.Semaphore(IN_FLIGHT)
        limits = httpx.Limits(max_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=corpus_server.base_url, timeout=1500, limits=limits) as client:
            return await asyncio.gather(*(_one(client, gate, *case) for case in cases))

    started = time.monotonic()
    results = asyncio.run(run_all())
    elapsed = time.monotonic() - started
    passed: Counter[str] = Counter()
    failures = []
    for (entry, stream, name, *_), result in zip(cases, results):
        key = f"{entry}{'/stream' if stream else ''}"
        if result == "ok":
            passed[key] += 1
        else:
            failures.append(f"{name} via {key}: {result}")
    sent = Counter(f"{entry}{'/stream' if stream else ''}" for entry, stream, *_ in cases)
    summary = ", ".join(f"{key} {passed[key]}/{sent[key]}" for key in sorted(sent))
    print(f"\n[{backend}, {mode}] {len(cases) - len(failures)}/{len(cases)} in {elapsed:.0f}s: {summary}")
    assert not failures, "\n".join(failures)
