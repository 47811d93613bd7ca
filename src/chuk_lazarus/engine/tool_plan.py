"""How a request's tools reach the model and how its output is read back.

Decides, per request: the messages and `tools=` the template gets, the output constraint (if any) and
whether it is lazy (starts at a call's first marker), and which parser turns the output into events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.grammar import Constraint
from ..core.types import GenerationRequest, ToolDefinition
from ..tools.base import ToolParser
from ..tools.generic import GenericJsonParser
from ..tools.grammar import tool_call_constraint
from ..tools.hermes import HermesParser
from ..tools.registry import select_parser
from ..tools.validate import validate_request
from . import constraints
from .output import PlainText, TextParser
from .templates import ChatTemplate, message_to_dict, tool_to_dict
from .tool_prompt import render_without_template_tools, tools_system_prompt


@dataclass(frozen=True)
class ToolPlan:
    messages: list[dict[str, Any]]
    template_tools: list[dict[str, Any]] | None  # for the template's `tools=`; None when injected
    constraint: Constraint | None  # with triggers: lazy, starting at the first one
    make_parser: Callable[[], TextParser]


def plan_tools(
    request: GenerationRequest, template: ChatTemplate, tool_parser: str | None = None
) -> ToolPlan:
    constraints.check_schemas(request)  # first: the validator below recurses without bound
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
    messages, template_tools = _messages(request, offered, native, answers_in_json)
    if not offered:
        return ToolPlan(
            messages, template_tools, constraints.response_constraint(request.response_format), PlainText
        )
    constraint, fmt = _constraint(request, offered, fmt, answers_in_json)
    return ToolPlan(messages, template_tools, constraint, fmt)


def _messages(
    request: GenerationRequest, offered: tuple[ToolDefinition, ...], native: bool, answers_in_json: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """The messages and `tools=` for the template: its own tool support, or the tools injected as text."""
    if native:
        return [message_to_dict(m) for m in request.messages], [tool_to_dict(t) for t in offered] or None
    choice = request.tool_choice
    extra = (
        tools_system_prompt(offered, choice, request.parallel_tool_calls, answers_in_json=answers_in_json)
        if offered
        else None
    )
    needs_text = extra is not None or any(m.role == "tool" or m.tool_calls for m in request.messages)
    if needs_text:
        return render_without_template_tools(request.messages, extra), None
    return [message_to_dict(m) for m in request.messages], None


def _constraint(
    request: GenerationRequest,
    offered: tuple[ToolDefinition, ...],
    fmt: type[ToolParser],
    answers_in_json: bool,
) -> tuple[Constraint | None, type[ToolParser]]:
    """With tools offered: the constraint (lazy or not), and the format the output is parsed as."""
    choice = request.tool_choice
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
        constraint = tool_call_constraint(
            tuple(t for _, t in picked), fmt, max_calls=max_calls, indices=tuple(i for i, _ in picked)
        )
        return constraint, fmt
    if request.response_format.type != "text":
        # The answer must be JSON of that shape, so the model answers rather than calls.
        return constraints.response_constraint(request.response_format), fmt
    indices = tuple(range(len(offered)))
    if answers_in_json:
        # Injected tools: the model writes calls or a wrapped answer, held to one of the two from the
        # first token (llama.cpp's generic format; see generic.py). At most one call per function, as
        # when a call is forced: a small model otherwise repeats its call until max_tokens.
        max_calls = len(offered) if request.parallel_tool_calls else 1
        return tool_call_constraint(offered, fmt, max_calls=max_calls, indices=indices, answer=True), fmt
    if fmt.lazy_triggers and fmt.grammar_root(1) is not None:
        # None: as many calls as the model makes.
        auto_max_calls = None if request.parallel_tool_calls else 1
        constraint = tool_call_constraint(
            offered, fmt, max_calls=auto_max_calls, indices=indices, triggers=fmt.lazy_triggers
        )
        return constraint, fmt
    return None, fmt
