"""How a request's tools reach the model and how its output is read back.

Decides, per request: the messages and `tools=` the template gets, the grammar (if any) and whether it
is lazy (starts at a call's first marker), and which parser turns the output into events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine import constraints
from ..engine.output import PlainText, TextParser
from ..engine.templates import ChatTemplate, message_to_dict, tool_to_dict
from ..engine.types import GenerationRequest
from .base import ToolParser
from .generic import GenericJsonParser
from .grammar import tool_call_grammar
from .hermes import HermesParser
from .inject import render_without_template_tools, tools_system_prompt
from .registry import select_parser
from .validate import validate_request


@dataclass(frozen=True)
class ToolPlan:
    messages: list[dict[str, Any]]
    template_tools: list[dict[str, Any]] | None  # for the template's `tools=`; None when injected
    grammar: str | None
    grammar_triggers: tuple[str, ...]  # non-empty: the grammar is lazy, starting at the first match
    make_parser: Callable[[], TextParser]


def plan_tools(
    request: GenerationRequest, template: ChatTemplate, tool_parser: str | None = None
) -> ToolPlan:
    validate_request(request)
    choice = request.tool_choice
    # `none`: the tools are not offered at all, so the model has nothing to call and the text is content.
    offered = request.tools if choice.mode != "none" else ()
    native = template.supports_tools
    fmt: type[ToolParser] = GenericJsonParser
    if native:
        fmt = select_parser(template.source, tool_parser) or HermesParser

    answers_in_json = (
        not native and bool(offered) and choice.mode == "auto" and request.response_format.type == "text"
    )
    if native:
        messages = [message_to_dict(m) for m in request.messages]
        template_tools = [tool_to_dict(t) for t in offered] or None
    else:
        extra = (
            tools_system_prompt(offered, choice, request.parallel_tool_calls, answers_in_json=answers_in_json)
            if offered
            else None
        )
        needs_text = extra is not None or any(m.role == "tool" or m.tool_calls for m in request.messages)
        messages = (
            render_without_template_tools(request.messages, extra)
            if needs_text
            else [message_to_dict(m) for m in request.messages]
        )
        template_tools = None

    if not offered:
        grammar = constraints.grammar_for_response_format(request.response_format)
        return ToolPlan(messages, template_tools, grammar, (), PlainText)

    if choice.mode in ("required", "function"):
        if fmt.grammar_root(1) is None:
            # A format we cannot constrain (pythonic): force the generic JSON form instead; the grammar
            # makes it valid even though the model was not trained on it.
            fmt = GenericJsonParser
        picked = [
            (i, t)
            for i, t in enumerate(request.tools)
            if choice.mode == "required" or t.name == choice.function
        ]
        # A weak model under a grammar that allows another call tends to take it, again and again, until
        # max_tokens: when a call is forced, allow at most one per function offered.
        max_calls = len(picked) if request.parallel_tool_calls else 1
        grammar = tool_call_grammar(
            tuple(t for _, t in picked), fmt, max_calls=max_calls, indices=tuple(i for i, _ in picked)
        )
        return ToolPlan(messages, template_tools, grammar, (), fmt)

    if request.response_format.type != "text":
        # The answer must be JSON of that shape, so the model answers rather than calls.
        grammar = constraints.grammar_for_response_format(request.response_format)
        return ToolPlan(messages, template_tools, grammar, (), fmt)
    # Its own name: `max_calls` above is always an int; here None means "as many as the model makes".
    auto_max_calls: int | None = None if request.parallel_tool_calls else 1
    if answers_in_json:
        # Injected tools: the model writes calls or a wrapped answer, held to one of the two from the
        # first token (llama.cpp's generic format; see generic.py). At most one call per function, as
        # when a call is forced: a small model otherwise repeats its call until max_tokens.
        grammar = tool_call_grammar(
            offered,
            fmt,
            max_calls=len(offered) if request.parallel_tool_calls else 1,
            indices=tuple(range(len(offered))),
            answer=True,
        )
        return ToolPlan(messages, template_tools, grammar, (), fmt)
    if fmt.lazy_triggers and fmt.grammar_root(1) is not None:
        grammar = tool_call_grammar(
            offered, fmt, max_calls=auto_max_calls, indices=tuple(range(len(offered)))
        )
        return ToolPlan(messages, template_tools, grammar, fmt.lazy_triggers, fmt)
    return ToolPlan(messages, template_tools, None, (), fmt)
