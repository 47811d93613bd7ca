"""The output pipeline with a reasoning splitter in front: reasoning never reaches the stop strings or
the tool parser, a call after the reasoning is a call, and however the output is cut into tokens the
events fold to the same reasoning and content."""

from __future__ import annotations

import pytest

from chuk_lazarus.core.types import Event, ReasoningDelta, TextDelta, ToolCallArgsDelta, ToolCallStart
from chuk_lazarus.engine.output import OutputPipeline
from chuk_lazarus.tools.hermes import HermesParser
from chuk_lazarus.tools.reasoning import ReasoningSplitter


def run(
    pieces: list[str],
    *,
    stops: tuple[str, ...] = (),
    tools: bool = False,
    opened: bool = True,
    hide: bool = False,
) -> tuple[list[Event], OutputPipeline]:
    pipeline = OutputPipeline(
        stops,
        HermesParser() if tools else None,
        ReasoningSplitter("think_tags", in_reasoning=opened),
        hide_reasoning=hide,
    )
    events: list[Event] = []
    for piece in pieces:
        out, keep_going = pipeline.push(piece.encode())
        events += out
        if not keep_going:
            break
    events += pipeline.finish()
    return events, pipeline


def fold(events: list[Event]) -> tuple[str, str, list[tuple[str, str]]]:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, TextDelta))
    calls: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallStart):
            names[e.index], calls[e.index] = e.name, []
        elif isinstance(e, ToolCallArgsDelta):
            calls[e.index].append(e.fragment)
    return reasoning, content, [(names[i], "".join(calls[i])) for i in sorted(names)]


OUTPUT = (
    'I could write <tool_call>{"name": "nope", "arguments": {}}</tool_call> here, or say STOP.\n</think>\n\n'
    'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_a_call_after_the_reasoning_is_a_call_and_one_inside_it_is_not(size: int) -> None:
    pieces = [OUTPUT[i : i + size] for i in range(0, len(OUTPUT), size)]
    events, _ = run(pieces, stops=("STOP",), tools=True)
    reasoning, content, calls = fold(events)
    assert reasoning == 'I could write <tool_call>{"name": "nope", "arguments": {}}</tool_call> here, or say STOP.'
    assert content.strip() == "Let me check."
    assert calls == [("get_weather", '{"city":"Oslo"}')]


def test_a_stop_string_ends_the_answer_not_the_reasoning() -> None:
    events, pipeline = run(["Never say STOP", " early.</think>", "The answer. STOP and", " more"], stops=("STOP",))
    reasoning, content, _ = fold(events)
    assert (reasoning, content) == ("Never say STOP early.", "The answer. ")
    assert pipeline.stop_sequence == "STOP"


def test_a_model_that_opens_its_reasoning_itself() -> None:
    events, _ = run(["<th", "ink>\nPonder.\n</th", "ink>\n\nDone."], opened=False)
    assert fold(events)[:2] == ("Ponder.", "Done.")
    events, _ = run(["No thinking here."], opened=False)
    assert fold(events)[:2] == ("", "No thinking here.")


def test_hidden_reasoning_is_split_off_and_dropped() -> None:
    events, pipeline = run(["Ponder.</think>", "Done."], hide=True)
    assert fold(events)[:2] == ("", "Done.")
    assert pipeline.reasoning_tokens == 1


def test_reasoning_tokens_count_the_tokens_until_the_close_marker() -> None:
    _, pipeline = run(["Pon", "der", ".</", "think", ">", "\n\n", "Done", "."])
    assert pipeline.reasoning_tokens == 5  # up to the close marker's last token
    _, pipeline = run(["Just", " an", " answer"], opened=False)
    assert pipeline.reasoning_tokens == 0


def test_logprobs_go_with_the_answer_only() -> None:
    from chuk_lazarus.core.types import TokenLogprob

    pipeline = OutputPipeline((), None, ReasoningSplitter("think_tags", in_reasoning=True))
    events: list[Event] = []
    for i, piece in enumerate(["Think", "</think>", "Yes"]):
        out, _ = pipeline.push(piece.encode(), TokenLogprob(piece, -float(i), tuple(piece.encode())))
        events += out
    events += pipeline.finish()
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert [lp.token for e in texts for lp in e.logprobs] == ["Yes"]
