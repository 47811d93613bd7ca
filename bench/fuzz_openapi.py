"""schemathesis against a live `lazarus serve`: every route of the server's own OpenAPI document, with
generated bodies (valid and invalid), checked for server errors only (`not_a_server_error`).

The document at /openapi.json names each route's body model (serving/body.py `json_body`), so
schemathesis generates requests from them: examples, boundary values, and bodies that break the
schema. A 5xx, or a server that stops answering, is a failure. Afterwards a normal chat request must
still succeed. Writes a table into docs/reliability.md between the fuzz markers with `--write`.

    python bench/fuzz_openapi.py --max-examples 25 --write docs/reliability.md

The server runs with a small context (512) and a default `max_tokens` of 16, so generated requests
that are valid finish quickly; a generated `max_tokens` larger than the context is the 400 it must be.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.contract.server import LazarusProcess  # after the path is set

MARK_BEGIN, MARK_END = "<!-- fuzz:begin -->", "<!-- fuzz:end -->"
SERVER_ARGS = ["--protocols", "openai,ollama,anthropic", "--parallel", "2", "--ctx-size", "512", "--max-tokens", "16"]


def pin_model(document: dict[str, Any], model: str) -> dict[str, Any]:
    """`document` with every request body's top-level `model` property allowed only `model`."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            schema = content.get("application/json", {}).get("schema", {})
            if "model" in schema.get("properties", {}):
                schema["properties"]["model"] = {"type": "string", "enum": [model]}
    return document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25, help="examples per route and phase")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers (more hit a hypothesis bug here)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, help="markdown file whose fuzz section is replaced")
    args = parser.parse_args()

    server = LazarusProcess(SERVER_ARGS)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    report = results / "schemathesis-junit.xml"
    started = time.monotonic()
    try:
        # The served model's name as the only `model` value: an unknown model is a 404 before anything
        # else is looked at, so with random names the fuzzer would rarely get past the model check.
        model = httpx.get(f"{server.base_url}/v1/models", timeout=30).json()["data"][0]["id"]
        document = pin_model(httpx.get(f"{server.base_url}/openapi.json", timeout=30).json(), model)
        spec = results / "openapi-pinned.json"
        spec.write_text(json.dumps(document))
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", str(spec), "--url", server.base_url,
            "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
            "--workers", str(args.workers), "--seed", str(args.seed), "--request-timeout", "180",
            "--continue-on-failure", "--no-color", "--report", "junit", "--report-junit-path", str(report),
        ]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        after = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8},
            timeout=120,
        )
        alive = server.process.poll() is None and after.status_code == 200
        log = server.output()
    finally:
        server.stop()
    (results / "fuzz-server.log").write_text(log if "log" in locals() else server.output())

    print(run.stdout[-6000:])
    print(run.stderr[-2000:], file=sys.stderr)
    cases = ET.parse(report).getroot().iter("testcase") if report.exists() else iter(())
    operations = failed = 0
    failures: list[str] = []
    for case in cases:
        operations += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(case.get("name", "?"))
    # The SUMMARY's phase lines (`✅ Coverage`, `⏭ Examples` …) and its failure and error counts.
    summary = re.findall(r"^\s*(?:[❌🚫✅⏭]\s+(?:Examples|Coverage|Fuzzing|Stateful)|[❌🚫] .+: \d+)\s*$", run.stdout, re.MULTILINE)
    test_cases = re.search(r"(\d+) generated", run.stdout)
    tracebacks = log.count("Traceback")
    lines = [
        MARK_BEGIN,
        (f"Run: `python bench/fuzz_openapi.py --max-examples {args.max_examples}` "
         f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; schemathesis, check `not_a_server_error`, "
         f"all phases, server `{' '.join(SERVER_ARGS)}`)."),  # fmt: skip
        "",
        "| measure | value |",
        "|---|---|",
        f"| operations tested | {operations} |",
        f"| test cases generated | {test_cases.group(1) if test_cases else 'see the run output'} |",
        f"| operations with a server error (5xx) or no answer | {failed}{' (' + ', '.join(failures) + ')' if failures else ''} |",
        f"| tracebacks in the server log | {tracebacks} |",
        f"| a normal chat request afterwards | {'200' if alive else 'FAILED'} |",
        f"| wall time | {elapsed / 60:.1f} min |",
        "",
        "schemathesis' summary: " + ("; ".join(s.strip() for s in summary) or "(none printed)"),
        MARK_END,
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        old = args.write.read_text() if args.write.exists() else f"{MARK_BEGIN}\n{MARK_END}\n"
        head, _, rest = old.partition(MARK_BEGIN)
        _, _, tail = rest.partition(MARK_END)
        args.write.write_text(head + table + tail)
    return 0 if run.returncode == 0 and alive and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
