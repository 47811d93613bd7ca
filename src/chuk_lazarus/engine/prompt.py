"""Turning a `GenerationRequest` into what the backend runs: prompt text, tokens, constraint, output parser.

This is the one place that decides how messages, tools and output constraints reach the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..backends.base import Backend
from ..core.errors import InvalidRequest, UnsupportedFeature
from ..core.grammar import Constraint
from ..core.types import GenerationRequest
from ..tools.validate import check_schema
from . import constraints, limits, tool_plan
from .chat_tokens import tokenize_chat
from .output import PlainText, TextParser
from .reasoning import ModelReasoning, ReasoningPlan, after_render, plan_reasoning
from .templates import ChatTemplate

_NO_REASONING = ModelReasoning("none")


@dataclass(frozen=True)
class PromptPlan:
    text: str
    tokens: list[int]
    max_tokens: int
    constraint: Constraint | None  # compiled by the backend already (see `Backend.check_constraint`)
    make_parser: Callable[[], TextParser]
    # Where the prompt's own tokens start in `tokens` (1 after a BOS the tokenizer added): what an echo
    # shows of the prompt, from `text`.
    echo_from: int = 0
    reasoning: ReasoningPlan | None = None  # None: a raw prompt (its output is all content)


def plan_prompt(
    request: GenerationRequest,
    template: ChatTemplate,
    backend: Backend,
    *,
    tool_parser: str | None = None,
    reasoning: ModelReasoning = _NO_REASONING,
    reasoning_budget: int | None = None,
) -> PromptPlan:
    """`tool_parser` overrides the tool-call format detected from the template (`--tool-parser`);
    `reasoning` is the model's reasoning format, `reasoning_budget` the server's default budget
    (`--reasoning-budget`). Runs off the event loop: compiling the constraint is part of planning."""
    limits.check_request(request, backend.info)
    constraint = None
    make_parser: Callable[[], TextParser] = PlainText
    echo_from = 0
    thinking: ReasoningPlan | None = None
    if request.prompt_token_ids is not None:
        tokens = list(request.prompt_token_ids)
        bad = next((t for t in tokens if not 0 <= t < backend.vocab_size), None)
        if bad is not None:
            raise InvalidRequest(
                f"prompt token {bad} is not in this model's vocabulary (0 to {backend.vocab_size - 1})", param="prompt"
            )
        text = b"".join(backend.token_bytes(t) for t in tokens).decode("utf-8", errors="replace")
    elif request.prompt is not None:
        text = request.prompt
        if request.suffix is not None:
            tokens = _fill_in_the_middle(text, request.suffix, backend)
        else:
            tokens = backend.tokenize(text, add_special=True)
            if request.echo:  # the echo starts after what the tokenizer added (a BOS)
                plain = backend.tokenize(text, add_special=False)
                added = len(tokens) - len(plain)
                echo_from = added if added > 0 and tokens[added:] == plain else 0
    else:
        if not request.messages:
            raise InvalidRequest("messages must not be empty", param="messages")
        tools = tool_plan.plan_tools(request, template, tool_parser)
        make_parser = tools.make_parser
        thinking = plan_reasoning(request, template, reasoning, default_budget=reasoning_budget)
        text, tokens = tokenize_chat(
            template,
            tools.messages,
            backend,
            tools=tools.template_tools,
            add_generation_prompt=request.add_generation_prompt,
            template_kwargs=thinking.template_kwargs,
        )
        thinking, closing = after_render(thinking, template, text, generation_prompt=request.add_generation_prompt)
        if closing:  # reasoning off, and the template could not be told: an empty block closes it
            text += closing
            tokens += backend.tokenize(closing, add_special=False, parse_special=True)
        # A caller's GBNF grammar is the answer's constraint like any other: it waits for the reasoning.
        constraint = thinking.gate(constraints.grammar_constraint(request, tools.constraint))
    if not tokens:
        raise InvalidRequest("the prompt is empty: it must have at least one token", param="prompt")
    max_tokens = limits.max_tokens_for(request, len(tokens), backend.info.context_length)
    if not request.messages:  # a raw prompt: its only constraint is the response format
        if request.response_format.schema is not None:
            check_schema(request.response_format.schema, param="response_format.json_schema.schema")
        constraints.check_schemas(request)
        constraint = constraints.grammar_constraint(request, constraints.response_constraint(request.response_format))
    if constraint is not None:
        backend.check_constraint(constraint)  # a schema it cannot enforce is a 400 here, before any token
    return PromptPlan(
        text=text,
        tokens=tokens,
        max_tokens=max_tokens,
        constraint=constraint,
        make_parser=make_parser,
        echo_from=echo_from,
        reasoning=thinking,
    )


def _fill_in_the_middle(prefix: str, suffix: str, backend: Backend) -> list[int]:
    """The prompt of a fill-in-the-middle model: prefix, then suffix, then where the middle goes
    (llama.cpp's order, a BOS first when the model wants one)."""
    fim = backend.fim_tokens()
    if fim is None:
        raise UnsupportedFeature(
            "`suffix` (fill-in-the-middle) needs a model trained for it; this model's vocabulary has no "
            "fill-in-the-middle tokens",
            param="suffix",
        )
    pre, suf, mid = fim
    bos = backend.tokenize("", add_special=True)
    return [*bos, pre, *backend.tokenize(prefix), suf, *backend.tokenize(suffix), mid]
