"""Lazy-grammar triggers: whole-text matches, the grammar's text from the first group, straddling tokens."""

from __future__ import annotations

from chuk_lazarus.backends.triggers import TriggerWatch

STARTS_WITH = r'\s*(\{\s*"tool_calls")[\s\S]*'
ANYWHERE = r"[\s\S]*?(<tool_call>)[\s\S]*"


def feed(watch: TriggerWatch, pieces: list[bytes]):  # type: ignore[no-untyped-def]
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
    fired = feed(TriggerWatch((r"[\s\S]*?(☃)[\s\S]*",)), [b"a", snowman[:1], snowman[1:]])
    assert len(fired) == 1 and fired[0][0] == 2
    assert fired[0][1].text == "☃" and fired[0][1].tokens == (1, 2) and fired[0][1].lead == ""
