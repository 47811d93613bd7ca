"""Turning a `GenerationRequest` into what the backend runs: prompt text, tokens, grammar, output parser.

This is the one place that decides how messages, tools and output constraints reach the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backends.base import Backend
from . import constraints
from .errors import ContextLengthExceeded, InvalidRequest
from .output import PlainText, TextParser
from .templates import ChatTemplate, message_to_dict, tool_to_dict
from .types import GenerationRequest


@dataclass(frozen=True)
class PromptPlan:
    text: str
    tokens: list[int]
    max_tokens: int
    grammar: str | None
    make_parser: Callable[[], TextParser]


def plan_prompt(request: GenerationRequest, template: ChatTemplate, backend: Backend) -> PromptPlan:
    if request.prompt is not None:
        text = request.prompt
        tokens = backend.tokenize(text, add_special=True)
    else:
        if not request.messages:
            raise InvalidRequest("messages must not be empty", param="messages")
        messages = [message_to_dict(m) for m in request.messages]
        tools = [tool_to_dict(t) for t in request.tools] if request.tools else None
        text = template.render(messages, tools=tools, add_generation_prompt=request.add_generation_prompt)
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
    grammar = constraints.grammar_for_response_format(request.response_format)
    return PromptPlan(text=text, tokens=tokens, max_tokens=max_tokens, grammar=grammar, make_parser=PlainText)
