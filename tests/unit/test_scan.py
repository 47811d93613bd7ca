"""The shared literal scanner: matches and holdback the same however the text is split."""

from __future__ import annotations

import itertools

import pytest

from chuk_lazarus.core.scan import Automaton, Match, StreamScanner


def scan(patterns: tuple[str, ...], pieces: list[str]) -> list[str | Match]:
    """Everything the scanner gives for `pieces`, released text joined between matches."""
    scanner = StreamScanner(patterns)
    items: list[str | Match] = []
    for piece in pieces:
        items += scanner.feed(piece)
    items.append(scanner.flush())
    merged: list[str | Match] = []
    for item in items:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] += item
        elif item != "":
            merged.append(item)
    return merged


def reference(patterns: tuple[str, ...], text: str) -> list[str | Match]:
    """The definition, by brute force: the first match to end (the longest of those), then afresh."""
    items: list[str | Match] = []
    begin = 0
    for end in range(1, len(text) + 1):
        found = [p for p in patterns if p and len(p) <= end - begin and text.startswith(p, end - len(p))]
        if found:
            pattern = max(found, key=len)
            if end - len(pattern) > begin:
                items.append(text[begin : end - len(pattern)])
            items.append(Match(pattern, end - len(pattern)))
            begin = end
    if begin < len(text):
        items.append(text[begin:])
    return items


CASES = [
    (("<tool_call>",), "Sure.<tool_call>{}</tool_call> and <tool_ not"),
    (("\n\nUser", "\n\nAssistant"), "a\n\nb\n\nUse\n\nUser: x"),
    (("abcd", "bc"), "xabcdx abcx"),  # the short one ends first inside the long one
    (("aab", "ab"), "aaab aab"),  # overlapping prefixes: the failure links must find the second start
    (("aa",), "aaaaa"),  # self-overlap: non-overlapping matches, afresh after each
    (("終わり", "わり"), "前文。終わり后文わり"),
    (("</tool_call>", "<tool_call>"), "<</tool_call><<tool_call>"),
    (("xyz",), "no match at all xy"),
]


@pytest.mark.parametrize(("patterns", "text"), CASES)
def test_whole_text_matches_the_definition(patterns: tuple[str, ...], text: str) -> None:
    assert scan(patterns, [text]) == reference(patterns, text)


@pytest.mark.parametrize(("patterns", "text"), CASES)
def test_every_split_point_gives_the_same_result(patterns: tuple[str, ...], text: str) -> None:
    whole = reference(patterns, text)
    for cut in range(len(text) + 1):
        assert scan(patterns, [text[:cut], text[cut:]]) == whole, cut
    assert scan(patterns, list(text)) == whole


def test_every_two_cut_split_gives_the_same_result() -> None:
    patterns, text = ("\n\nUser", "User:"), "hi\n\nUser: there"
    whole = reference(patterns, text)
    for a, b in itertools.combinations(range(len(text) + 1), 2):
        assert scan(patterns, [text[:a], text[a:b], text[b:]]) == whole, (a, b)


def test_only_a_possible_beginning_is_held_back() -> None:
    scanner = StreamScanner(("\n\nUser",))
    assert scanner.feed("answer\n\nUs") == ["answer"]
    assert scanner.held == "\n\nUs"
    assert scanner.feed("ed") == ["\n\nUsed"]  # no longer a beginning: all of it goes
    assert scanner.held == ""
    assert scanner.feed("x\n") == ["x"] and scanner.held == "\n"


def test_holdback_is_released_at_flush() -> None:
    scanner = StreamScanner(("<tool_call>",))
    assert scanner.feed("text <tool_ca") == ["text "]
    assert scanner.flush() == "<tool_ca"
    assert scanner.flush() == ""


def test_match_offsets_count_every_character_fed() -> None:
    scanner = StreamScanner(("ab",))
    assert scanner.feed("xa") == ["x"]
    assert scanner.feed("bab") == [Match("ab", 1), Match("ab", 3)]
    assert scanner.position == 5


def test_no_patterns_passes_text_through() -> None:
    scanner = StreamScanner(("",))
    assert scanner.feed("abc") == ["abc"] and scanner.feed("") == [] and scanner.flush() == ""


def test_the_automaton_reports_every_pattern_ending_at_a_state() -> None:
    automaton = Automaton(("she", "he", "hers", "he"))  # the duplicate is dropped
    assert automaton.patterns == ("she", "he", "hers")
    state = 0
    for ch in "ushe":
        state = automaton.step(state, ch)
    assert [automaton.patterns[i] for i in automaton.ending(state)] == ["she", "he"]
    assert automaton.depth(state) == 3
