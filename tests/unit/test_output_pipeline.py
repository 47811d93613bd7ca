"""Stop strings held back across token boundaries; UTF-8 split across tokens never emitted broken."""

from __future__ import annotations

import pytest

from chuk_lazarus.engine.output import OutputPipeline, StopMatcher
from chuk_lazarus.engine.types import TextDelta


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
