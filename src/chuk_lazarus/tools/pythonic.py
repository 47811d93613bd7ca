"""Pythonic calls (Llama 3.2 / 4, some others): the message is `[f(a=1), g(b="x")]`, optionally inside
`<|python_start|>…<|python_end|>`. Arguments become compact JSON, so each call's arguments arrive in
one piece once the list is complete (the Python text is not JSON and cannot be passed through)."""

from __future__ import annotations

import ast
import json
from typing import Any

from .base import MarkerFinder, ToolParser

PY_START, PY_END = "<|python_start|>", "<|python_end|>"
_JSON_NAMES = {"true": True, "false": False, "null": None}


class PythonicParser(ToolParser):
    name = "pythonic"
    template_markers = (PY_START, "[func_name1(params_name1=params_value1")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = "start"  # start | text | list
        self._markers = MarkerFinder((PY_START, PY_END))
        self._region = ""
        self._depth = 0
        self._quote: str | None = None
        self._escaped = False

    def _step(self, ch: str) -> None:
        if self._state == "list":
            self._list_char(ch)
            return
        if self._state == "start":
            if ch.isspace():
                self._content(ch)
                return
            if ch == "[":
                self._open(ch)
                return
            if ch != "<":
                self._state = "text"
        released, marker = self._markers.push(ch)
        self._content(released)
        if marker == PY_START:
            self._markup_begins()
            self._state = "start"
        elif marker == PY_END:
            self._markup_begins()

    def _open(self, ch: str) -> None:
        self._state, self._region, self._depth, self._quote = "list", "", 0, None
        self._list_char(ch)

    def _list_char(self, ch: str) -> None:
        self._region += ch
        if self._quote:
            if self._escaped:
                self._escaped = False
            elif ch == "\\":
                self._escaped = True
            elif ch == self._quote:
                self._quote = None
            return
        if ch in "'\"":
            self._quote = ch
        elif ch in "([{":
            self._depth += 1
        elif ch in ")]}":
            self._depth -= 1
            if self._depth == 0:
                self._close_list()

    def _close_list(self) -> None:
        self._state = "text"
        calls = _parse_calls(self._region)
        if calls is None:
            self._content(self._region)
            return
        self._markup_begins()
        for name, arguments in calls:
            self._emit_whole_call(name, json.dumps(arguments, ensure_ascii=False, separators=(",", ":")))

    def _end(self) -> None:
        if self._state == "list":
            self._content(self._region)
        self._content(self._markers.flush())


def _parse_calls(text: str) -> list[tuple[str, dict[str, Any]]] | None:
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.List) or not tree.elts:
        return None
    calls = []
    for node in tree.elts:
        if not isinstance(node, ast.Call) or node.args or not (name := _dotted(node.func)):
            return None
        arguments: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                return None
            try:
                arguments[kw.arg] = _value(kw.value)
            except ValueError:
                return None
        calls.append((name, arguments))
    return calls


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return None


def _value(node: ast.expr) -> Any:
    """A literal, with JSON's true/false/null accepted too (models mix the two)."""
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_value(k) if k is not None else None: _value(v) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)
