"""Turning a `GenerationRequest` into what the backend runs: prompt text, tokens, grammar, output parser.

This is the one place that decides how messages, tools and output constraints reach the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backends.base import Backend
from ..core.errors import InvalidRequest
from ..core.types import GenerationRequest, LazyTrigger
from ..tools.validate import check_schema
from . import constraints, limits, tool_plan
from .chat_tokens import tokenize_chat
from .output import PlainText, TextParser
from .templates import ChatTemplate


@dataclass(frozen=True)
class PromptPlan:
    text: str
    tokens: list[int]
    max_tokens: int
    grammar: str | None
    make_parser: Callable[[], TextParser]
    grammar_triggers: tuple[LazyTrigger, ...] = ()  # non-empty: the grammar is lazy (see BackendJob)


def plan_prompt(
    request: GenerationRequest, template: ChatTemplate, backend: Backend, *, tool_parser: str | None = None
) -> PromptPlan:
    """`tool_parser` overrides the tool-call format detected from the template (`--tool-parser`)."""
    limits.check_request(request, backend.info)
    grammar = None
    triggers: tuple[LazyTrigger, ...] = ()
    make_parser: Callable[[], TextParser] = PlainText
    if request.prompt is not None:
        text = request.prompt
        tokens = backend.tokenize(text, add_special=True)
    else:
        if not request.messages:
            raise InvalidRequest("messages must not be empty", param="messages")
        tools = tool_plan.plan_tools(request, template, tool_parser, schema_grammar=backend.schema_grammar)
        grammar, triggers, make_parser = tools.grammar, tools.grammar_triggers, tools.make_parser
        text, tokens = tokenize_chat(
            template,
            tools.messages,
            backend,
            tools=tools.template_tools,
            add_generation_prompt=request.add_generation_prompt,
        )
    max_tokens = limits.max_tokens_for(request, len(tokens), backend.info.context_length)
    if request.prompt is not None:
        if request.response_format.schema is not None:
            check_schema(request.response_format.schema, param="response_format.json_schema.schema")
        grammar = constraints.grammar_for_response_format(request.response_format, backend.schema_grammar)
    return PromptPlan(
        text=text,
        tokens=tokens,
        max_tokens=max_tokens,
        grammar=grammar,
        make_parser=make_parser,
        grammar_triggers=triggers,
    )
