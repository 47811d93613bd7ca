"""Property tests (Hypothesis, bounded in time): streaming equals one-shot, however the input is split.

- the output pipeline (UTF-8 reassembly + stop strings) fed a text's bytes cut anywhere == fed it whole;
- every tool-call parser fed recorded outputs cut anywhere == parsing them whole;
- the reasoning splitter (every format) fed text made of its own markers cut anywhere == splitting it
  whole, and it emits the same ordered sequence of reasoning and content runs;
- the JSON depth scan of the body reader agrees with a recursive reference on random JSON values.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chuk_lazarus.core.types import TextDelta
from chuk_lazarus.engine.output import OutputPipeline
from chuk_lazarus.serving.body import json_depth
from chuk_lazarus.tools import fold, get_parser, parse
from chuk_lazarus.tools.reasoning import REASONING_FORMATS, ReasoningSplitter, split_reasoning
from tests.unit.test_tool_parsers import CASES

BOUNDED = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
ALPHABET = st.sampled_from(list("ab <|>\n{}\"\\é東😀") + ["END", "</s>"])


def _cuts(data: Any, length: int) -> list[int]:
    return sorted(set(data.draw(st.lists(st.integers(0, length), max_size=12))))


def _split(seq: Any, cuts: list[int]) -> list[Any]:
    edges = [0, *cuts, len(seq)]
    return [seq[a:b] for a, b in itertools.pairwise(edges)]


def _run(pieces: list[bytes], stops: tuple[str, ...]) -> tuple[str, str | None]:
    pipeline = OutputPipeline(stops)
    events = []
    for piece in pieces:
        out, go_on = pipeline.push(piece)
        events += out
        if not go_on:
            break
    events += pipeline.finish()
    return "".join(e.text for e in events if isinstance(e, TextDelta)), pipeline.stop_sequence


@BOUNDED
@given(text=st.lists(ALPHABET, max_size=30).map("".join), stops=st.lists(ALPHABET, max_size=3), data=st.data())
def test_output_pipeline_split_anywhere_equals_whole(text: str, stops: list[str], data: Any) -> None:
    raw = text.encode("utf-8")
    whole = _run([raw], tuple(stops))
    assert _run(_split(raw, _cuts(data, len(raw))), tuple(stops)) == whole
    assert _run([bytes([b]) for b in raw], tuple(stops)) == whole


@BOUNDED
@given(case=st.sampled_from(CASES), data=st.data())
def test_tool_parsers_split_anywhere_equal_whole(case: tuple[Any, ...], data: Any) -> None:
    fmt, text = case[0], case[1]
    parser = get_parser(fmt)()
    events = []
    for chunk in _split(text, _cuts(data, len(text))):
        events += parser.feed(chunk)
    events += parser.finish()
    streamed_content, streamed_calls = fold(events)
    content, calls = parse(text, fmt)
    assert streamed_content == content
    assert [(c.name, c.arguments) for c in streamed_calls] == [(c.name, c.arguments) for c in calls]


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from(list('ab[]{}"\\é'))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


@BOUNDED
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_depth_scan_matches_a_recursive_reference(value: Any, ascii_only: bool) -> None:
    assert json_depth(json.dumps(value, ensure_ascii=ascii_only).encode()) == _reference_depth(value)


# Text built from every format's markers (and near-misses of them), so the splitter's partial-marker
# holding is exercised wherever a cut falls.
REASONING_PIECES = st.sampled_from(
    ["<think>", "</think>", "[THINK]", "[/THINK]", "<|start|>", "assistant", "<|channel|>", "analysis",
     "final", "commentary", "<|message|>", "<|end|>", "<|return|>", "<|call|>", "<thi", "</", "[/TH", "<|",
     "a", " ", "\n", "é", "😀", "text"]
)  # fmt: skip


def _runs(splitter: ReasoningSplitter, pieces: list[str]) -> list[tuple[str, str]]:
    """The splitter's output as maximal runs of (kind, text), whatever the delta boundaries."""
    runs: list[tuple[str, str]] = []
    for delta in [d for piece in pieces for d in splitter.feed(piece)] + splitter.finish():
        kind = type(delta).__name__
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + delta.text)
        else:
            runs.append((kind, delta.text))
    return runs


@BOUNDED
@given(
    fmt=st.sampled_from(REASONING_FORMATS),
    in_reasoning=st.booleans(),
    text=st.lists(REASONING_PIECES, max_size=24).map("".join),
    data=st.data(),
)
def test_reasoning_splitter_split_anywhere_equals_whole(fmt: Any, in_reasoning: bool, text: str, data: Any) -> None:
    whole = _runs(ReasoningSplitter(fmt, in_reasoning=in_reasoning), [text])
    cut = _runs(ReasoningSplitter(fmt, in_reasoning=in_reasoning), _split(text, _cuts(data, len(text))))
    one_by_one = _runs(ReasoningSplitter(fmt, in_reasoning=in_reasoning), list(text))
    assert cut == whole
    assert one_by_one == whole
    reasoning = "".join(t for k, t in whole if k == "ReasoningDelta")
    content = "".join(t for k, t in whole if k == "ContentDelta")
    assert split_reasoning(text, fmt, in_reasoning=in_reasoning) == (reasoning, content)
