"""The nesting guard's scanner: depth of objects and arrays, braces inside strings not counted."""

from __future__ import annotations

from chuk_lazarus.backends.guidance import _JsonDepth


def scanned(*pieces: bytes) -> _JsonDepth:
    depth = _JsonDepth()
    for piece in pieces:
        depth.feed(piece)
    return depth


def test_depth_follows_objects_and_arrays_split_anywhere() -> None:
    assert scanned(b'{"a": [{"b"', b": [1, ").depth == 4
    assert scanned(b'{"a": [{"b": [1]}', b"]}").depth == 0


def test_brackets_in_strings_and_escaped_quotes_do_not_count() -> None:
    state = scanned(b'{"t": "a { [ \\" ] ', b'{')
    assert state.depth == 1 and state.in_string
    state.feed(b'"')
    assert not state.in_string
