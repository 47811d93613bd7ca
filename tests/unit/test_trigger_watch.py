"""Lazy-grammar triggers: where the grammar starts, straddling tokens, split however the bytes fall."""

from __future__ import annotations

import re

import pytest

from chuk_lazarus.backends.triggers import Trigger, TriggerWatch
from chuk_lazarus.core.types import LazyTrigger
from chuk_lazarus.tools import get_parser

STARTS_WITH = LazyTrigger('{"tool_calls"', at_start=True)
ANYWHERE = LazyTrigger("<tool_call>")
PYTHON_TAG = LazyTrigger("{", after="<|python_tag|>")


def feed(watch: TriggerWatch, pieces: list[bytes]) -> list[tuple[int, Trigger]]:
    fired = [watch.feed(i, piece) for i, piece in enumerate(pieces)]
    return [(i, t) for i, t in enumerate(fired) if t is not None]


def test_a_starts_with_trigger_fires_once_its_marker_is_complete() -> None:
    fired = feed(TriggerWatch((STARTS_WITH,)), [b" ", b'{"', b"tool", b"_calls", b'":', b" ["])
    assert [i for i, _ in fired] == [4]
    trigger = fired[0][1]
    assert trigger.text == '{"tool_calls":' and trigger.tokens == (1, 2, 3, 4) and trigger.lead == ""


def test_a_starts_with_trigger_ignores_the_marker_after_other_text() -> None:
    assert feed(TriggerWatch((STARTS_WITH,)), [b"Here:", b" ", b'{"', b"tool_calls", b'"']) == []


def test_an_anywhere_trigger_inside_a_token_keeps_that_token_and_its_lead() -> None:
    fired = feed(TriggerWatch((ANYWHERE,)), [b"Sure", b".<tool", b"_call>", b"{"])
    assert len(fired) == 1 and fired[0][0] == 2
    trigger = fired[0][1]
    assert trigger.text == "<tool_call>" and trigger.tokens == (1, 2) and trigger.lead == "."


def test_a_split_multibyte_character_is_matched_once_whole() -> None:
    snowman = "☃".encode()
    fired = feed(TriggerWatch((LazyTrigger("☃"),)), [b"a", snowman[:1], snowman[1:]])
    assert len(fired) == 1 and fired[0][0] == 2
    assert fired[0][1].text == "☃" and fired[0][1].tokens == (1, 2) and fired[0][1].lead == ""


def test_a_multibyte_lead_before_the_trigger_in_the_same_token() -> None:
    e_acute = "é".encode()
    fired = feed(TriggerWatch((ANYWHERE,)), [e_acute[:1], e_acute[1:] + "☃<tool_call>".encode()])
    assert fired[0][1].tokens == (1,) and fired[0][1].lead == "\ufffd☃"  # the token's own bytes, cut
    assert fired[0][1].text == "<tool_call>"


def test_the_grammar_starts_at_the_literal_after_the_marker_and_whitespace() -> None:
    fired = feed(TriggerWatch((PYTHON_TAG,)), [b"Ok <|python_tag|>", b" \n", b' {"na', b"me"])
    assert fired[0][0] == 2
    trigger = fired[0][1]
    assert trigger.text == '{"na' and trigger.tokens == (2,) and trigger.lead == " "


def test_a_marker_followed_by_other_text_does_not_fire() -> None:
    assert feed(TriggerWatch((PYTHON_TAG,)), [b"<|python_tag|> x {", b"}"]) == []
    # … but a later marker still can
    fired = feed(TriggerWatch((PYTHON_TAG,)), [b"<|python_tag|> x <|python_tag|>{"])
    assert fired[0][1].text == "{" and fired[0][1].lead == "<|python_tag|> x <|python_tag|>"


def test_overlapping_triggers_fire_at_the_first_to_complete() -> None:
    # `{` at the start completes before the python tag's `{` could; the tag alone needs its marker.
    watch = TriggerWatch(tuple(get_parser("llama3_json").lazy_triggers))
    assert feed(watch, [b"  ", b'{"name"'])[0][1].text == '{"name"'
    watch = TriggerWatch(tuple(get_parser("llama3_json").lazy_triggers))
    fired = feed(watch, [b"Calling <|python", b"_tag|>", b"{"])
    assert fired[0][0] == 2 and fired[0][1].text == "{" and fired[0][1].tokens == (2,)


def test_a_watch_fires_once() -> None:
    watch = TriggerWatch((ANYWHERE,))
    assert watch.feed(0, b"<tool_call>") is not None
    assert watch.feed(1, b"<tool_call>") is None


def test_invalid_bytes_are_left_out_of_the_text_but_not_the_offsets() -> None:
    fired = feed(TriggerWatch((ANYWHERE,)), [b"\xff\xfe", b"x\xff<tool_call>\xff{"])
    assert fired[0][1].tokens == (1,) and fired[0][1].lead == "x\ufffd" and fired[0][1].text == "<tool_call>{"


# What the old regex triggers (matched against all the text so far) meant, for the property below.
REGEX_FORMS = {
    ANYWHERE: r"[\s\S]*?(<tool_call>)[\s\S]*",
    LazyTrigger("{", at_start=True): r"\s*(\{)[\s\S]*",
    PYTHON_TAG: r"[\s\S]*?<\|python_tag\|>\s*(\{)[\s\S]*",
    LazyTrigger("[TOOL_CALLS]"): r"[\s\S]*?(\[TOOL_CALLS\])[\s\S]*",
}
OUTPUTS = [
    "Sure. <tool_call>\n{}",
    ' \n {"name": "f"}',
    'Let me see. <|python_tag|>  {"name": "f"}',
    "a <|python_tag|>b <|python_tag|>\t{x",
    "[TOOL_CALLS][{}] ☃ é",
    "x <tool_ca ll> <tool_call>",
    "nothing here {",
]


def regex_fire(pattern: str, data: bytes) -> tuple[int, str, int] | None:
    """The old definition, re-decoding everything after every byte: (byte count, text, start byte)."""
    for end in range(1, len(data) + 1):
        text = data[:end].decode("utf-8", errors="ignore")
        match = re.fullmatch(pattern, text)
        if match:
            return end, text[match.start(1) :], len(text[: match.start(1)].encode())
    return None


@pytest.mark.parametrize("trigger", list(REGEX_FORMS))
@pytest.mark.parametrize("output", OUTPUTS)
def test_every_split_point_agrees_with_the_regex_form(trigger: LazyTrigger, output: str) -> None:
    data = output.encode()
    expected = regex_fire(REGEX_FORMS[trigger], data)
    for cut in range(len(data) + 1):
        pieces = [data[:cut], data[cut:]]
        fired = feed(TriggerWatch((trigger,)), pieces)
        if expected is None:
            assert fired == [], cut
            continue
        end, _, start = expected
        index, got = fired[0]
        firing_piece = 0 if cut >= end else 1  # the piece holding the byte that completes the trigger
        assert index == firing_piece, cut
        first = 0 if start < cut else 1
        assert got.tokens == tuple(range(first, firing_piece + 1)), cut
        assert got.text == data[start : len(b"".join(pieces[: index + 1]))].decode(errors="ignore"), cut
        lead_from = 0 if first == 0 else cut
        assert got.lead == data[lead_from:start].decode(errors="replace"), cut


def test_structured_triggers_are_checked() -> None:
    for literal, after, at_start in (("", None, False), ("{", "", False), ("{", "x", True)):
        with pytest.raises(ValueError):
            LazyTrigger(literal, after, at_start)
