"""The reasoning splitter: formats, held-back markers, and streaming == one-shot however the text is cut."""

from __future__ import annotations

import random

import pytest

from chuk_lazarus.tools.reasoning import (
    ContentDelta,
    ReasoningDelta,
    ReasoningFormat,
    ReasoningSplitter,
    detect_reasoning_format,
    fold_deltas,
    get_format,
    prompt_opens_reasoning,
    split_reasoning,
)

# (format, prompt opened the reasoning, output, expected reasoning, expected content)
CASES: list[tuple[ReasoningFormat, bool, str, str, str]] = [
    ("think_tags", False, "<think>\nLet me see.\n</think>\n\nParis.", "Let me see.", "Paris."),
    ("think_tags", False, "  <think>a  b</think>c", "a  b", "c"),
    ("think_tags", False, "No reasoning at all.", "", "No reasoning at all."),
    ("think_tags", False, "\nHello", "", "\nHello"),
    ("think_tags", False, "<thin", "", "<thin"),  # only looked like a tag
    ("think_tags", False, "<think>cut off while thinking", "cut off while thinking", ""),
    ("think_tags", False, "<think></think>Direct.", "", "Direct."),
    ("think_tags", False, "Answer with <think> in it</think>.", "", "Answer with <think> in it</think>."),
    ("think_tags", False, "<think>one</think>two <think>three</think>", "one", "two <think>three</think>"),
    ("think_tags", True, "The user asks.\n</think>\n\nIt is sunny.", "The user asks.", "It is sunny."),
    ("think_tags", True, "<think>\nDuplicated open tag.</think>ok", "Duplicated open tag.", "ok"),
    ("think_tags", True, "</think>Nothing to think.", "", "Nothing to think."),
    ("think_tags", True, "never closed", "never closed", ""),
    ("mistral", False, "[THINK]2+2=4[/THINK]4", "2+2=4", "4"),
    ("mistral", False, "[TOOL_CALLS]f[ARGS]{}", "", "[TOOL_CALLS]f[ARGS]{}"),
    ("mistral", False, "<think>not Mistral's</think>x", "", "<think>not Mistral's</think>x"),
    ("harmony", False, "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>",
     "Think.", "Done."),
    ("harmony", False, "<|channel|>final<|message|>Only an answer.", "", "Only an answer."),
    ("harmony", False, ("<|channel|>analysis<|message|>Call it.<|end|><|start|>assistant<|channel|>commentary "
                        'to=functions.f <|constrain|>json<|message|>{"a": 1}<|call|>'), "Call it.",
     '<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a": 1}<|call|>'),
    ("harmony", False, "<|channel|>commentary<|message|>Checking now.<|end|>", "", "Checking now."),
    ("harmony", False, "Plain text, the model ignored the format.", "", "Plain text, the model ignored the format."),
    ("harmony", False, "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>analysis<|message|>b",
     "ab", ""),
    ("harmony", False, "<|channel|>analysis<|message|>a<|end|>\n<|start|>assistant<|channel|>final<|message|>b", "a", "b"),
    ("harmony", False, "<|chan", "", "<|chan"),
    ("none", False, "<think>kept</think> as is", "", "<think>kept</think> as is"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "opened", "text", "reasoning", "content"), CASES)
def test_one_shot(fmt: ReasoningFormat, opened: bool, text: str, reasoning: str, content: str) -> None:
    assert split_reasoning(text, fmt, in_reasoning=opened) == (reasoning, content)


def _streamed(fmt: ReasoningFormat, opened: bool, pieces: list[str]) -> tuple[str, str]:
    splitter = ReasoningSplitter(fmt, in_reasoning=opened)
    deltas = []
    for piece in pieces:
        deltas += splitter.feed(piece)
    return fold_deltas(deltas + splitter.finish())


@pytest.mark.parametrize(("fmt", "opened", "text", "reasoning", "content"), CASES)
def test_random_splits_equal_one_shot(fmt: ReasoningFormat, opened: bool, text: str, reasoning: str, content: str) -> None:
    rng = random.Random(text)
    assert _streamed(fmt, opened, list(text)) == (reasoning, content)
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 6)))) if len(text) > 1 else []
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        assert _streamed(fmt, opened, pieces) == (reasoning, content), pieces


def test_only_a_possible_marker_is_held_back() -> None:
    splitter = ReasoningSplitter("think_tags")
    assert splitter.feed("<thi") == []  # may still open the reasoning
    assert splitter.feed("nk>Step one. </thi") == [ReasoningDelta("Step one.")]  # the space may end it
    assert splitter.feed("nk>\n\nAns") == [ContentDelta("Ans")]
    assert splitter.feed("wer <think>") == [ContentDelta("wer <think>")]  # in the answer, tags are text
    assert splitter.finish() == []


def test_deltas_keep_their_order() -> None:
    splitter = ReasoningSplitter("harmony")
    text = "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>final<|message|>b"
    assert splitter.feed(text) + splitter.finish() == [ReasoningDelta("a"), ContentDelta("b")]


def test_detection_and_prompt_state() -> None:
    assert detect_reasoning_format(None) == "none"
    assert detect_reasoning_format("{{ '<|start|>assistant<|channel|>final<|message|>' }}") == "harmony"
    assert detect_reasoning_format("{{ '[THINK]' + t + '[/THINK]' }}") == "mistral"
    assert detect_reasoning_format("{{ '<think>\\n' }}") == "think_tags"
    assert detect_reasoning_format("{% if '</think>' in c %}{% endif %}") == "think_tags"
    assert prompt_opens_reasoning("think_tags", "<｜Assistant｜><think>\n")
    assert not prompt_opens_reasoning("think_tags", "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert prompt_opens_reasoning("mistral", "[/INST][THINK]")
    assert not prompt_opens_reasoning("harmony", "<|start|>assistant")
    assert get_format("mistral") == "mistral"
    with pytest.raises(ValueError, match="choose one of"):
        get_format("nope")
