"""Conformance of every tool-call format on recorded model outputs.

For each case: the whole-text parse gives the expected content and calls, and feeding the text one
character at a time (and in uneven chunks) gives exactly the same events once folded.
"""

from __future__ import annotations

import json

import pytest

from chuk_lazarus.core.types import TextDelta, ToolCallArgsDelta, ToolCallStart
from chuk_lazarus.tools import available_parsers, fold, get_parser, parse, select_parser

# (format, model output, expected content, expected [(name, arguments)])
CASES = [
    # hermes / qwen
    ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', None,
     [("get_weather", '{"city":"Paris"}')]),
    ("hermes", ('Let me check both.\n<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n'
                '<tool_call>\n{"name": "b", "arguments": {"y": [1, 2.5, null]}}\n</tool_call>'), "Let me check both.",
     [("a", '{"x":1}'), ("b", '{"y":[1,2.5,null]}')]),
    ("hermes", '<tool_call>{"name": "say", "arguments": {"text": "Zürich \\"quoted\\" — 東京 \\u00e9 }{"}}</tool_call>',
     None, [("say", '{"text":"Zürich \\"quoted\\" — 東京 \\u00e9 }{"}')]),
    ("hermes", '<tool_call>{"arguments": {"q": "a"}, "name": "search"}</tool_call>', None, [("search", '{"q":"a"}')]),
    ("hermes", '<tool_call>{"name": "now"}</tool_call>', None, [("now", "{}")]),
    ("hermes", '<tool_call>[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"k": "v"}}]</tool_call>',
     None, [("a", "{}"), ("b", '{"k":"v"}')]),
    ("hermes", "I use <tool_ tags sometimes, <b>bold</b>.", "I use <tool_ tags sometimes, <b>bold</b>.", []),
    ("hermes", '<tool_call>{"not": "a call"}</tool_call> then text', '<tool_call>{"not": "a call"}</tool_call> then text',
     []),
    ("hermes", "Plain answer.\n", "Plain answer.\n", []),
    # llama 3 JSON
    ("llama3_json", '{"name": "get_weather", "parameters": {"city": "Paris", "days": 3}}', None,
     [("get_weather", '{"city":"Paris","days":3}')]),
    ("llama3_json", '<|python_tag|>{"name": "a", "parameters": {"s": "it\'s \\"x\\""}}; {"name": "b", "parameters": {}}',
     None, [("a", '{"s":"it\'s \\"x\\""}'), ("b", "{}")]),
    ("llama3_json", 'Checking.<|python_tag|>{"name": "f", "parameters": {"n": -1.5e3}}', "Checking.",
     [("f", '{"n":-1.5e3}')]),
    ("llama3_json", '{"answer": 42}', '{"answer": 42}', []),
    ("llama3_json", "The capital is Paris.", "The capital is Paris.", []),
    # mistral
    ("mistral", '[TOOL_CALLS][{"name": "a", "arguments": {"x": "[1]"}}, {"name": "b", "arguments": {"é": true}}]',
     None, [("a", '{"x":"[1]"}'), ("b", '{"é":true}')]),
    ("mistral", 'Sure. [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Köln"}}]', "Sure.",
     [("get_weather", '{"city":"Köln"}')]),
    ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]now[ARGS]{}', None,
     [("get_weather", '{"city":"Paris"}'), ("now", "{}")]),
    ("mistral", "No [TOOL here.", "No [TOOL here.", []),
    ("mistral", '[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}', None,
     [("get_weather", '{"city":"Paris"}')]),
    # pythonic
    ("pythonic", '[get_weather(city="Paris", days=3), now()]', None,
     [("get_weather", '{"city":"Paris","days":3}'), ("now", "{}")]),
    ("pythonic", "<|python_start|>[say(text='it\\'s \"é\"', loud=True, extra=None, tags=[\"a\", 'b)'])]<|python_end|>",
     None, [("say", '{"text":"it\'s \\"é\\"","loud":true,"extra":null,"tags":["a","b)"]}')]),
    ("pythonic", "[1, 2, 3] are numbers", "[1, 2, 3] are numbers", []),
    ("pythonic", "Answer: [f(a=1)]", "Answer: [f(a=1)]", []),
    # granite 3.x (and Phi-4-mini under llama.cpp's tool template)
    ("granite", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "now", "arguments": {}}]',
     None, [("get_weather", '{"city":"Paris"}'), ("now", "{}")]),
    ("granite", 'Checking.<|tool_call|>{"name": "f", "arguments": {"x": [1]}}<|/tool_call|>', "Checking.",
     [("f", '{"x":[1]}')]),
    ("granite", "a <|tool_call|>not json", "a <|tool_call|>not json", []),
    # phi-4-mini as trained
    ("phi4_mini", 'functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]', None,
     [("get_weather", '{"city":"Paris"}')]),
    ("phi4_mini", "import functools; use functools[0]", "import functools; use functools[0]", []),
    # gpt-oss harmony (raw output, and content left by the reasoning splitter)
    ("harmony", ('<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary '
                 'to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>'), None,
     [("get_weather", '{"city":"Paris"}')]),
    ("harmony", '<|start|>assistant to=functions.now<|channel|>commentary json<|message|>{}<|call|>', None,
     [("now", "{}")]),
    ("harmony", "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>Paris.",
     "Paris.", []),
    ("harmony", "Plain text, no channels.", "Plain text, no channels.", []),
    # deepseek-r1
    ("deepseek_r1", ('Let me check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n'
                     '{"city": "Paris"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>now\n```json\n{}\n```'
                     '<｜tool▁call▁end｜><｜tool▁calls▁end｜>'), "Let me check.", [("get_weather", '{"city":"Paris"}'), ("now", "{}")]),
    ("deepseek_r1", "No calls <｜tool here.", "No calls <｜tool here.", []),
    # generic JSON (injected tools)
    ("json", '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]}', None,
     [("get_weather", '{"city":"Paris","unit":"celsius"}')]),
    ("json", '{ "tool_calls" : [{"name": "a", "arguments": {"s": "\\\\ \\" ü"}}, {"name": "b", "arguments": {}}] }',
     None, [("a", '{"s":"\\\\ \\" ü"}'), ("b", "{}")]),
    ("json", '{"answer": "not a call"}', '{"answer": "not a call"}', []),
    ("json", "Hello! How can I help?", "Hello! How can I help?", []),
    # … and its wrapped answers (tool_choice=auto), unescaped as they stream
    ("json", '{"response": "Paris.\\nIt is \\"big\\" \\u00e9 \\ud83d\\ude00 \\\\ /"}', 'Paris.\nIt is "big" é 😀 \\ /', []),
    ("json", ' { "response" : "" } ', None, []),
    ("json", '{"response": "cut off', "cut off", []),
    ("json", '{"responses": "x"}', '{"responses": "x"}', []),
    ("json", '{"response": 5}', '{"response": 5}', []),
]


def _norm(result: tuple[str | None, list]) -> tuple[str | None, list[tuple[str, str]]]:
    content, calls = result
    return content, [(c.name, c.arguments) for c in calls]


def _streamed(fmt: str, chunks: list[str]) -> list:
    parser = get_parser(fmt)()
    events = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.finish()


@pytest.mark.parametrize(("fmt", "text", "content", "calls"), CASES)
def test_whole_text_parse(fmt: str, text: str, content: str | None, calls: list[tuple[str, str]]) -> None:
    assert _norm(parse(text, fmt)) == (content, calls)
    for _, arguments in calls:
        json.loads(arguments)  # every recorded call's arguments are JSON


@pytest.mark.parametrize(("fmt", "text", "content", "calls"), CASES)
def test_one_character_at_a_time_equals_whole(fmt: str, text: str, content: str | None, calls: list) -> None:
    assert _norm(fold(_streamed(fmt, list(text)))) == _norm(parse(text, fmt))


@pytest.mark.parametrize(("fmt", "text", "content", "calls"), CASES)
def test_uneven_chunks_equal_whole(fmt: str, text: str, content: str | None, calls: list) -> None:
    sizes = [3, 1, 7, 2, 11]
    chunks, at, i = [], 0, 0
    while at < len(text):
        chunks.append(text[at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    assert _norm(fold(_streamed(fmt, chunks))) == _norm(parse(text, fmt))


@pytest.mark.parametrize(("fmt", "text", "content", "calls"), CASES)
def test_event_order_and_markup(fmt: str, text: str, content: str | None, calls: list) -> None:
    events = _streamed(fmt, list(text))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.index for s in starts] == list(range(len(calls)))
    assert len({s.id for s in starts}) == len(starts)
    assert all(s.id.startswith("call_") and len(s.id) == 29 for s in starts)
    seen: set[int] = set()
    for event in events:  # arguments only ever follow their call's start
        if isinstance(event, ToolCallStart):
            seen.add(event.index)
        elif isinstance(event, ToolCallArgsDelta):
            assert event.index in seen and event.fragment
    if calls:
        text_out = "".join(e.text for e in events if isinstance(e, TextDelta))
        for marker in ("<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", '"tool_calls"', "[ARGS]",
                       "<|tool_call|>", "<|call|>", "<|channel|>", "<｜tool▁call▁begin｜>", "functools["):  # fmt: skip
            assert marker not in text_out


def test_arguments_stream_in_pieces() -> None:
    text = '<tool_call>{"name": "f", "arguments": {"a": "long text here"}}</tool_call>'
    fragments = [e for e in _streamed("hermes", list(text)) if isinstance(e, ToolCallArgsDelta)]
    assert len(fragments) > 5


def test_registry_and_selection() -> None:
    assert available_parsers() == ["deepseek_r1", "granite", "harmony", "hermes", "json", "llama3_json", "mistral",
                                   "phi4_mini", "pythonic"]  # fmt: skip
    assert select_parser("{% if tools %}<tool_call>{% endif %}") is get_parser("hermes")
    assert select_parser("{{ '[TOOL_CALLS]' }}") is get_parser("mistral")
    assert select_parser("<|python_tag|> Environment: ipython") is get_parser("llama3_json")
    assert select_parser("plain chatml") is None
    assert select_parser("<tool_call>", "qwen") is get_parser("hermes")
    with pytest.raises(ValueError, match="choose one of"):
        get_parser("nope")
