"""Turning a `GenerationRequest` into what the backend runs: prompt text, tokens, constraint, output parser.

This is the one place that decides how messages, tools and output constraints reach the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backends.base import Backend
from ..core.errors import ContextLengthExceeded, InvalidRequest
from ..core.grammar import Constraint
from ..core.types import GenerationRequest
from . import constraints, tool_plan
from .output import PlainText, TextParser
from .templates import ChatTemplate


@dataclass(frozen=True)
class PromptPlan:
    text: str
    tokens: list[int]
    max_tokens: int
    constraint: Constraint | None  # compiled by the backend already (see `Backend.check_constraint`)
    make_parser: Callable[[], TextParser]


def plan_prompt(
    request: GenerationRequest, template: ChatTemplate, backend: Backend, *, tool_parser: str | None = None
) -> PromptPlan:
    """`tool_parser` overrides the tool-call format detected from the template (`--tool-parser`).
    Runs off the event loop: compiling the constraint is part of planning."""
    constraint = None
    make_parser: Callable[[], TextParser] = PlainText
    if request.prompt is not None:
        text = request.prompt
        tokens = backend.tokenize(text, add_special=True)
    else:
        if not request.messages:
            raise InvalidRequest("messages must not be empty", param="messages")
        tools = tool_plan.plan_tools(request, template, tool_parser)
        constraint, make_parser = tools.constraint, tools.make_parser
        text = template.render(
            tools.messages, tools=tools.template_tools, add_generation_prompt=request.add_generation_prompt
        )
        # The template writes any BOS itself; tokenizing must not add a second one.
        tokens = backend.tokenize(text, add_special=False)
    context = backend.info.context_length
    if len(tokens) >= context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your messages resulted in "
            f"{len(tokens)} tokens. Please reduce the length of the messages.",
            param="messages",
        )
    room = context - len(tokens)
    max_tokens = room if request.max_tokens is None else min(request.max_tokens, room)
    if request.prompt is not None:
        constraints.check_schemas(request)
        constraint = constraints.response_constraint(request.response_format)
    if constraint is not None:
        backend.check_constraint(constraint)  # a schema it cannot enforce is a 400 here, before any token
    return PromptPlan(
        text=text, tokens=tokens, max_tokens=max_tokens, constraint=constraint, make_parser=make_parser
    )
