"""Stop strings held back across token boundaries; UTF-8 split across tokens never emitted broken."""

from __future__ import annotations

import pytest

from chuk_lazarus.core.types import TextDelta
from chuk_lazarus.engine.output import OutputPipeline, StopMatcher


def run(pieces: list[bytes], stops: tuple[str, ...] = ()) -> tuple[list[str], str | None, int]:
    """Feed pieces; return the texts released, the stop matched, and how many pieces were consumed."""
    pipeline = OutputPipeline(stops)
    released: list[str] = []
    consumed = 0
    for piece in pieces:
        consumed += 1
        events, keep_going = pipeline.push(piece)
        released += [e.text for e in events if isinstance(e, TextDelta)]
        if not keep_going:
            break
    released += [e.text for e in pipeline.finish() if isinstance(e, TextDelta)]
    return released, pipeline.stop_sequence, consumed


def test_plain_text_passes_through_piece_by_piece() -> None:
    released, stop, _ = run([b"Hello", b" wor", b"ld"])
    assert released == ["Hello", " wor", "ld"] and stop is None


def test_stop_string_split_across_tokens_is_held_back_and_dropped() -> None:
    released, stop, consumed = run([b"The answer", b" is 4", b"2.\n", b"\nUser", b": more"], stops=("\n\nUser",))
    assert "".join(released) == "The answer is 42."
    assert stop == "\n\nUser"
    assert consumed == 4  # generation stops on the token that completes the stop string


def test_partial_stop_prefix_is_released_when_it_turns_out_not_to_be_one() -> None:
    released, stop, _ = run([b"a\n", b"b"], stops=("\n\n",))
    assert released == ["a", "\nb"] and stop is None


def test_earliest_of_several_stops_wins() -> None:
    released, stop, _ = run([b"one two three"], stops=("three", "two"))
    assert "".join(released) == "one " and stop == "two"


def test_multibyte_character_split_across_tokens_is_never_broken() -> None:
    data = "café ☕ 日本".encode()
    pieces = [data[i : i + 1] for i in range(len(data))]  # one byte per "token"
    released, _, _ = run(pieces)
    assert "".join(released) == "café ☕ 日本"
    assert all("\ufffd" not in r for r in released)


def test_truncated_utf8_at_the_end_becomes_a_replacement_character() -> None:
    released, _, _ = run([b"ok ", "☕".encode()[:2]])
    assert "".join(released) == "ok \ufffd"


def test_stop_string_made_of_multibyte_characters() -> None:
    data = "前文。終わり后文".encode()
    pieces = [data[i : i + 2] for i in range(0, len(data), 2)]
    released, stop, _ = run(pieces, stops=("終わり",))
    assert "".join(released) == "前文。" and stop == "終わり"


@pytest.mark.parametrize("stops", [(), ("xyz",)])
def test_stop_matcher_flush_returns_what_was_held(stops: tuple[str, ...]) -> None:
    matcher = StopMatcher(stops)
    assert matcher.push("abcx") + matcher.flush() == "abcx"


@pytest.mark.parametrize("stops", [("\n\nUser",), ("終わり", "わり。"), ("ab", "abc", "bcd")])
@pytest.mark.parametrize("text", ["The answer\n\nUser: x", "前文。終わり后文", "xabcd abc", "no stop \n\nUse"])
def test_every_byte_split_gives_the_same_text_and_stop(stops: tuple[str, ...], text: str) -> None:
    data = text.encode()
    whole = run([data], stops)
    for cut in range(len(data) + 1):
        released, stop, _ = run([data[:cut], data[cut:]], stops)
        assert ("".join(released), stop) == ("".join(whole[0]), whole[1]), cut
    released, stop, _ = run([data[i : i + 1] for i in range(len(data))], stops)
    assert ("".join(released), stop) == ("".join(whole[0]), whole[1])


def test_the_first_stop_to_complete_wins_even_inside_a_longer_one() -> None:
    released, stop, _ = run([b"xabcd"], stops=("abcd", "bc"))
    assert "".join(released) == "xa" and stop == "bc"


def test_a_held_back_stop_prefix_is_released_at_finish() -> None:
    pipeline = OutputPipeline(("\n\nUser",))
    events, keep_going = pipeline.push(b"Done.\n\nUs")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Done."] and keep_going
    assert [e.text for e in pipeline.finish() if isinstance(e, TextDelta)] == ["\n\nUs"]
    assert pipeline.stop_sequence is None


def test_a_stop_completed_by_the_final_replacement_character() -> None:
    released, stop, _ = run([b"ok ", "☕".encode()[:2]], stops=("\ufffd",))
    assert "".join(released) == "ok " and stop == "\ufffd"
