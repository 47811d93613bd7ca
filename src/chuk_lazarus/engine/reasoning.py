"""A request's reasoning: what the template is told, where the output starts, and the constraint's gate.

The reasoning format is the model's (`ModelReasoning`, made once per model from its chat template or
`--reasoning-parser`). Per request (`plan_reasoning`, then `after_render`):
- the controls become template variables: `enable_thinking` (Qwen 3, SmolLM3, DeepSeek V3.1…),
  `thinking` where the template reads that name (Granite), `reasoning_effort` (gpt-oss); a request's
  own `template_kwargs` (`chat_template_kwargs`) win over them. A model whose format is "none"
  ignores the controls (the template kwargs still reach its template);
- reasoning turned off, on a template that cannot be told so, is closed in the prompt (an empty
  `<think></think>` block, as Qwen 3's own template writes it), and whatever reasoning the model
  still writes is dropped (gpt-oss cannot stop reasoning: its analysis channel is hidden);
- a constraint (JSON schema, tool grammar) or a thinking budget gets a `ReasoningGate`: the grammar
  starts after the close marker, and the budget closes the reasoning after N tokens.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Backend
from ..core.grammar import Constraint, HarmonyMarkup, Marker, ReasoningGate, after_reasoning
from ..core.types import GenerationRequest
from ..tools.reasoning import (
    H_CALL,
    H_CHANNEL,
    H_END,
    H_MESSAGE,
    H_RETURN,
    H_START,
    MISTRAL_CLOSE,
    MISTRAL_OPEN,
    THINK_CLOSE,
    THINK_OPEN,
    ReasoningFormat,
    ReasoningSplitter,
    detect_reasoning_format,
    get_format,
    prompt_opens_reasoning,
)
from .templates import ChatTemplate

_TAGS = {"think_tags": (THINK_OPEN, THINK_CLOSE), "mistral": (MISTRAL_OPEN, MISTRAL_CLOSE)}
H_CONSTRAIN = "<|constrain|>"
_HARMONY_MARKUP = (H_START, H_CHANNEL, H_MESSAGE, H_END, H_CALL, H_RETURN, H_CONSTRAIN)
# What a spent budget writes on gpt-oss: the analysis message's end and the final message's header.
_HARMONY_CLOSING = f"{H_END}{H_START}assistant{H_CHANNEL}final{H_MESSAGE}"


@dataclass(frozen=True)
class ModelReasoning:
    """The loaded model's reasoning format and its markers as this model's tokens."""

    format: ReasoningFormat
    open: Marker | None = None  # the reasoning's markers (harmony: the analysis header and its end)
    close: Marker | None = None
    close_tokens: tuple[int, ...] = ()
    # Special tokens of the format's markup: written out into the output text, so that the splitter
    # sees them even where they are control tokens (which otherwise add no text).
    visible: frozenset[int] = frozenset()
    harmony: HarmonyMarkup | None = None  # gpt-oss's markup, for a constraint's grammar

    @property
    def thinks(self) -> bool:
        return self.format != "none"


def model_reasoning(template: ChatTemplate, backend: Backend, parser: str | None = None) -> ModelReasoning:
    """`parser`: `--reasoning-parser` (None or "auto": detected from the template)."""
    fmt = detect_reasoning_format(template.source) if parser in (None, "auto") else get_format(parser)
    if fmt in _TAGS:
        open_text, close_text = _TAGS[fmt]
        open_marker = Marker(open_text, backend.special_token(open_text))
        close_marker = Marker(close_text, backend.special_token(close_text))
        # What a spent budget writes: the close marker in the markup spacing the format's templates
        # use (`…\n</think>\n\n`). A bare `</think>` left the embedded model ending its turn at once
        # (an empty answer); with the spacing it goes on to answer, as after its own close.
        closing = f"\n{close_text}\n\n" if fmt == "think_tags" else close_text
        tokens = tuple(backend.tokenize(closing, parse_special=True))
        visible = frozenset(m.token for m in (open_marker, close_marker) if m.token is not None)
        return ModelReasoning(fmt, open_marker, close_marker, tokens, visible=visible)
    if fmt == "harmony":
        markers = {text: Marker(text, backend.special_token(text)) for text in _HARMONY_MARKUP}
        markup = HarmonyMarkup(
            markers[H_START], markers[H_CHANNEL], markers[H_MESSAGE], markers[H_END], markers[H_CONSTRAIN]
        )
        # The analysis header is several tokens: the gate matches it as text (special tokens are
        # rendered for it), and its end by the `<|end|>` token.
        return ModelReasoning(
            fmt,
            open=Marker(f"{H_CHANNEL}analysis{H_MESSAGE}"),
            close=markers[H_END],
            close_tokens=tuple(backend.tokenize(_HARMONY_CLOSING, parse_special=True)),
            harmony=markup,
            visible=frozenset(m.token for m in markers.values() if m.token is not None),
        )
    return ModelReasoning(fmt)


@dataclass(frozen=True)
class ReasoningPlan:
    """One request's reasoning, before and after its prompt is rendered."""

    model: ModelReasoning
    template_kwargs: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False  # the request turned reasoning off
    budget: int | None = None
    opened: bool = False  # the rendered prompt ends inside an open reasoning block (after_render)

    @property
    def format(self) -> ReasoningFormat:
        return self.model.format

    def splitter(self) -> ReasoningSplitter | None:
        """A fresh splitter for one choice's output (None: the model does not reason)."""
        if not self.model.thinks:
            return None
        return ReasoningSplitter(self.model.format, in_reasoning=self.opened)

    def gate(self, answer: Constraint | None) -> Constraint | None:
        """The output constraint with the reasoning left free before it, and the budget enforced."""
        model = self.model
        if model.open is None or model.close is None or not model.close_tokens:
            return answer  # a model that does not reason: the constraint as it is
        if self.disabled and model.harmony is None:
            return answer  # the reasoning was closed in the prompt
        if answer is None and self.budget is None:
            return None
        # gpt-oss writes its messages' markup whether or not it was told to reason little: its
        # constraint always starts at the final message (what it still reasons is dropped).
        gate = ReasoningGate(
            model.open, model.close, self.opened, self.budget, model.close_tokens, harmony=model.harmony
        )
        return after_reasoning(answer, gate)


def plan_reasoning(
    request: GenerationRequest,
    template: ChatTemplate,
    model: ModelReasoning,
    *,
    default_budget: int | None,
) -> ReasoningPlan:
    """The template variables for `request`, and whether its reasoning is off or bounded."""
    control = request.reasoning
    if not model.thinks:
        return ReasoningPlan(model, dict(request.template_kwargs))
    budget = control.budget_tokens if control.budget_tokens is not None else default_budget
    enabled = control.enabled
    if budget == 0 and enabled is None:
        enabled = False  # a budget of nothing: no reasoning at all
    kwargs: dict[str, Any] = {}
    if enabled is not None:
        kwargs["enable_thinking"] = enabled
        if "thinking" in template.variables:
            kwargs["thinking"] = enabled
    if control.effort is not None:
        kwargs["reasoning_effort"] = control.effort
    kwargs.update(request.template_kwargs)
    disabled = kwargs.get("enable_thinking") is False or kwargs.get("thinking") is False
    return ReasoningPlan(model, kwargs, disabled=disabled, budget=None if disabled else budget)


def after_render(
    plan: ReasoningPlan, template: ChatTemplate, prompt: str, *, generation_prompt: bool
) -> tuple[ReasoningPlan, str]:
    """Where the rendered `prompt` leaves the output, and the text to append to it: when reasoning is
    off but the template was not told (it reads no `enable_thinking`), an empty reasoning block."""
    model = plan.model
    if model.open is None or model.close is None or model.harmony is not None or not generation_prompt:
        return plan, ""  # (gpt-oss's prompt never opens its analysis, nor can it close one)
    opened = prompt_opens_reasoning(model.format, prompt)
    if not plan.disabled:
        return dataclasses.replace(plan, opened=opened), ""
    if opened:
        return plan, model.close.text + "\n\n"
    told = bool({"enable_thinking", "thinking"} & template.variables)
    if told or prompt.rstrip().endswith(model.close.text):
        return plan, ""
    return plan, f"{model.open.text}\n\n{model.close.text}\n\n"
