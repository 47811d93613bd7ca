"""Does the model answer once a tool result is back, or call the tool again? (issue: agent loops end)

Each case is a short agent exchange on the embedded model: the user's question, the model's own call
(as an agent client sends it back), the tool's result, and the fact the answer must contain. The next
turn is generated greedily with the tools still offered under `tool_choice: auto`, as every agent
client does, and counted as

  answered   content, no tool call, and the expected fact is in it
  content    content without the fact (it answered, wrongly)
  recalled   a tool call again (the loop agent clients end with "max turns")

for each way of showing earlier calls and results to a model whose template has no tool support
(`engine/tool_prompt.py: RESULT_STYLES`). Run:

    python bench/agent_loops.py                # every style, the embedded model
    python bench/agent_loops.py --styles user_label,json_result
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from chuk_lazarus.core.types import ChatMessage, GenerationRequest, SamplingParams, ToolCall, ToolDefinition
from chuk_lazarus.engine import ModelEngine, tool_prompt


def fn(name: str, description: str, **props: str) -> ToolDefinition:
    return ToolDefinition(
        name,
        description,
        {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": list(props)},
    )


ADD = fn("add", "Add two numbers.", a="number", b="number")
WEATHER = fn("get_weather", "Get the current weather in a city.", city="string")
TIME = fn("get_time", "Get the current time in a city.", city="string")
LOOKUP = fn("lookup_capital", "Look up the capital city of a country.", country="string")
STOCK = fn("get_stock_price", "Get the latest price of a stock ticker.", ticker="string")
CONVERT = fn("convert_currency", "Convert an amount between currencies.", amount="number", source="string",
             target="string")  # fmt: skip
SEARCH = fn("search_books", "Search a library catalogue by title words.", query="string")
TRANSLATE = fn("translate", "Translate a text into a language.", text="string", language="string")


@dataclass(frozen=True)
class Case:
    question: str
    tools: tuple[ToolDefinition, ...]
    call: str
    arguments: dict[str, Any]
    result: str
    expect: tuple[str, ...]  # any of these in the answer counts


CASES = (
    Case("What is 17 plus 25?", (ADD,), "add", {"a": 17, "b": 25}, "42", ("42",)),
    Case("Add 2 and 3.", (ADD,), "add", {"a": 2, "b": 3}, "5", ("5",)),
    Case("What's the weather in Paris?", (WEATHER,), "get_weather", {"city": "Paris"},
         '{"temperature_c": 18, "conditions": "light rain"}', ("18", "rain")),
    Case("Is it sunny in Tokyo right now?", (WEATHER, TIME), "get_weather", {"city": "Tokyo"},
         '{"temperature_c": 25, "conditions": "sunny"}', ("sunny", "yes", "Yes")),
    Case("What time is it in London?", (WEATHER, TIME), "get_time", {"city": "London"}, "14:05", ("14:05", "2:05")),
    Case("What is the capital of Australia?", (LOOKUP,), "lookup_capital", {"country": "Australia"},
         "Canberra", ("Canberra",)),
    Case("Which city is the capital of Canada?", (LOOKUP, SEARCH), "lookup_capital", {"country": "Canada"},
         "Ottawa", ("Ottawa",)),
    Case("How much is one share of ACME?", (STOCK,), "get_stock_price", {"ticker": "ACME"},
         '{"ticker": "ACME", "price": 132.5, "currency": "USD"}', ("132.5",)),
    Case("Convert 100 US dollars to euros.", (CONVERT,), "convert_currency",
         {"amount": 100, "source": "USD", "target": "EUR"}, '{"amount": 92.3, "currency": "EUR"}', ("92.3",)),
    Case("Find me a book about dragons.", (SEARCH,), "search_books", {"query": "dragons"},
         '[{"title": "The Dragon Keeper", "author": "Robin Hobb"}]', ("Dragon Keeper",)),
    Case("How do you say 'thank you' in Spanish?", (TRANSLATE,), "translate",
         {"text": "thank you", "language": "Spanish"}, "gracias", ("gracias", "Gracias")),
    Case("What is 9 plus 10? Use the add tool.", (ADD, WEATHER), "add", {"a": 9, "b": 10}, "19", ("19",)),
    Case("Tell me the weather in Berlin, please.", (WEATHER, LOOKUP), "get_weather", {"city": "Berlin"},
         '{"temperature_c": 7, "conditions": "cloudy"}', ("7", "cloudy")),
    Case("What's 120 plus 80?", (ADD, STOCK), "add", {"a": 120, "b": 80}, "200", ("200",)),
)  # fmt: skip


def exchange(case: Case) -> GenerationRequest:
    call = ToolCall(id="call_1", name=case.call, arguments=json.dumps(case.arguments))
    messages = (
        ChatMessage("user", case.question),
        ChatMessage("assistant", None, tool_calls=(call,)),
        ChatMessage("tool", case.result, tool_call_id="call_1", name=case.call),
    )
    return GenerationRequest(messages=messages, tools=case.tools, max_tokens=64,
                             sampling=SamplingParams(temperature=0.0))  # fmt: skip


async def measure(engine: ModelEngine, style: str) -> dict[str, int]:
    tool_prompt.RESULT_STYLE = style
    counts = {"answered": 0, "content": 0, "recalled": 0}
    for case in CASES:
        result = await engine.agenerate(exchange(case))
        if result.tool_calls:
            counts["recalled"] += 1
        elif any(e in result.text for e in case.expect):
            counts["answered"] += 1
        else:
            counts["content"] += 1
    return counts


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="default: the embedded model")
    parser.add_argument("--styles", default=",".join(tool_prompt.RESULT_STYLES))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    engine = await ModelEngine.load(args.model, parallel=1, threads=args.threads)
    try:
        print(f"| style | answered | content | recalled | (of {len(CASES)}) |\n|---|---:|---:|---:|---|", flush=True)
        for style in args.styles.split(","):
            c = await measure(engine, style)
            print(f"| `{style}` | {c['answered']} | {c['content']} | {c['recalled']} | |", flush=True)
    finally:
        await engine.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
