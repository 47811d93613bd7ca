"""How deep arrays and objects nest in a JSON text, measured without parsing it and without recursion.

Used on request bodies before parsing (`serving/body.py`) and on JSON that arrives inside strings
(tool-call arguments) before the engine parses it: deeper values are never handed to anything
recursive. Escapes and strings are deleted with bytes methods, leaving only brackets, and the running
sum's maximum is taken with numpy: linear and in C.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_JSON_DEPTH = 64  # nested arrays/objects, the top-level one counting as 1

_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_depth(data: bytes) -> int:
    """How deep arrays and objects nest in the JSON text `data` (0: none). For text that is not JSON
    the number means little, but it is still computed without recursion; the parser refuses it after."""
    if b"[" not in data and b"{" not in data:
        return 0
    # Escapes go first (`\\` pairs, then `\"`), so every `"` left opens or closes a string; the pieces
    # between the quotes at even positions are outside strings.
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    brackets = np.frombuffer(outside.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max())


def loads_bounded(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads(text)`, refusing (ValueError) text that nests deeper than `max_depth`."""
    import json

    if json_depth(text.encode("utf-8", "surrogatepass")) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
