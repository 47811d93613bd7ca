"""The engine's own vocabulary: messages, tools, sampling settings, requests and events.

Protocols translate their wire types into these and render these back; nothing here knows about
HTTP, JSON wire shapes or any particular backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class ToolCall:
    """A call the assistant made. `arguments` is the JSON text exactly as generated."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role == "tool": which call this result answers
    name: str | None = None  # for role == "tool": the function's name, when the protocol gives it
    # For role == "assistant": the reasoning the model wrote before this turn's answer, as a client sends
    # it back (OpenAI `reasoning_content`, Anthropic `thinking` blocks, Ollama `thinking`). Templates
    # that show earlier reasoning read it (`reasoning_content`, `thinking`); the others drop it.
    reasoning: str | None = None


@dataclass(frozen=True)
class ToolDefinition:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool = False  # OpenAI strict mode: the schema must follow its rules (core/schema.py)


@dataclass(frozen=True)
class ToolChoice:
    """`auto`: text or calls; `none`: never a call; `required`: at least one call; `function`: that one."""

    mode: Literal["auto", "none", "required", "function"] = "auto"
    function: str | None = None


@dataclass(frozen=True)
class ResponseFormat:
    """`text`; `json_object` (any JSON object); `json_schema` (JSON valid against `schema`)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    strict: bool = False  # OpenAI strict mode: the schema must follow its rules (core/schema.py)


@dataclass(frozen=True)
class LazyTrigger:
    """Where a lazy grammar (tool calls under tool_choice=auto) takes over: at the first `literal` that

    - `after` is given: follows that marker, with optional whitespace between;
    - `at_start`: opens the output, after optional whitespace;
    - otherwise: appears anywhere.

    The grammar constrains the output from `literal` on, `literal` included. Literals rather than
    regexes: a backend watches for them incrementally, in time linear in the output (`core.scan`)."""

    literal: str
    after: str | None = None
    at_start: bool = False

    def __post_init__(self) -> None:
        if not self.literal or self.after == "" or (self.after is not None and self.at_start):
            raise ValueError(f"not a lazy-grammar trigger: {self!r}")


ReasoningEffort = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class ReasoningControl:
    """What a request asks of a reasoning model. `enabled` None: the model's own default (its template's).

    `budget_tokens`: at most this many tokens of reasoning, then the reasoning is closed for it (None:
    the server's `--reasoning-budget`, else unbounded). `effort` reaches templates that read
    `reasoning_effort` (gpt-oss). A model that cannot reason ignores all of it."""

    enabled: bool | None = None
    budget_tokens: int | None = None
    effort: ReasoningEffort | None = None


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = disabled
    min_p: float = 0.0
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    logit_bias: dict[int, float] = field(default_factory=dict)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    @property
    def penalized(self) -> bool:
        """Whether penalties look at the tokens sampled so far."""
        return self.repeat_penalty != 1.0 or bool(self.frequency_penalty) or bool(self.presence_penalty)

    @property
    def plain_greedy(self) -> bool:
        """Greedy, and nothing but the row's logits decides: an argmax over them is the token."""
        return self.greedy and not self.logit_bias and not self.penalized


# The sampling fields a deployment may give defaults for (server flags, the model's own), applied to
# requests that leave them out (`GenerationRequest.sampling_unset`).
DEFAULTABLE_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty")


def unset_sampling(**given: object) -> frozenset[str]:
    """The defaultable sampling fields a request left out: those it gave as None, and those its
    protocol cannot send at all (not named here)."""
    return frozenset(name for name in DEFAULTABLE_SAMPLING if given.get(name) is None)


def stop_strings(stop: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """A request's stop strings however the protocol sends them: one or many, empty ones dropped,
    each once, in order."""
    items = [stop] if isinstance(stop, str) else (stop or ())
    return tuple(dict.fromkeys(s for s in items if s))


@dataclass(frozen=True)
class GenerationRequest:
    """One completion: either a chat (`messages`) or a raw prompt (`prompt` text or `prompt_token_ids`,
    rendered by nobody; the text gets the BOS the model wants, token ids are taken as they are)."""

    messages: tuple[ChatMessage, ...] = ()
    prompt: str | None = None
    prompt_token_ids: tuple[int, ...] | None = None
    suffix: str | None = None  # fill-in-the-middle: `prompt` is the text before, this the text after
    max_tokens: int | None = None  # None: until the context is full
    # True when `max_tokens` is the server's default rather than the caller's: it is then cut to the room
    # the prompt leaves. A caller's own max_tokens that does not fit is refused (400), as OpenAI does.
    max_tokens_is_default: bool = False
    max_tokens_field: str = "max_tokens"  # what the protocol calls it, for errors (`options.num_predict`)
    # Sampling fields the client left out (names from DEFAULTABLE_SAMPLING): the engine gives them the
    # server's defaults, else the model's own, over the protocol's value in `sampling`.
    sampling_unset: frozenset[str] = frozenset()
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: tuple[str, ...] = ()
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    grammar: str | None = None  # the caller's own GBNF grammar (llama-server's `grammar` field)
    logprobs: int | None = None  # None: off; N >= 0: the sampled token's logprob plus N alternatives
    add_generation_prompt: bool = True
    # The prompt is the start of each choice's output (legacy completions' `echo`): a first `TextDelta`
    # of the prompt's text, with its tokens' logprobs when `prompt_logprobs` is set.
    echo: bool = False
    prompt_logprobs: int | None = None  # None: off; N: each prompt token's logprob plus N alternatives
    n: int = 1  # independent choices of the same prompt (planned once; with a seed, choice i uses seed + i)
    reasoning: ReasoningControl = field(default_factory=ReasoningControl)
    # Extra variables for the chat template (OpenAI-compatible servers' `chat_template_kwargs`, e.g.
    # `{"enable_thinking": false}`); they win over what `reasoning` maps onto the template.
    template_kwargs: dict[str, Any] = field(default_factory=dict)


# ---- events: what astream() yields -------------------------------------------------------------


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float | None  # None only for a prompt's first token (nothing before it to predict it)
    bytes: tuple[int, ...]
    top: tuple[tuple[str, float, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class TextDelta:
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class ReasoningDelta:
    """Text of the model's reasoning (its `<think>` block, harmony analysis channel…), markup removed."""

    text: str


@dataclass(frozen=True)
class ToolCallStart:
    """A tool call begins. Its arguments follow as `ToolCallArgsDelta`s with the same index."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallArgsDelta:
    index: int
    fragment: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int = 0
    reasoning_tokens: int = 0  # of completion_tokens: those spent inside the reasoning (its markup too)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Timings:
    """Wall-clock durations in nanoseconds (Ollama reports these; others may ignore them).

    `queued_ns`: from `start` until a sequence took the request; `prompt_ns`: from then until the
    first sampled token (prefill); `generation_ns`: from then to the end."""

    queued_ns: int = 0
    prompt_ns: int = 0
    generation_ns: int = 0
    # Between each token delivered after the first and the one before it (for inter-token latency):
    # tokens that come out of one step together (drafted, forced) are a few microseconds apart.
    token_gaps_ns: tuple[int, ...] = ()


@dataclass(frozen=True)
class Finish:
    reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None  # which stop string ended the text, if one did
    timings: Timings = field(default_factory=Timings)


Event = Union[TextDelta, ReasoningDelta, ToolCallStart, ToolCallArgsDelta, Finish]


@dataclass(frozen=True)
class GenerationResult:
    """The fold of one stream of events."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish: Finish
    logprobs: tuple[TokenLogprob, ...] = ()
    reasoning: str = ""  # the reasoning before the answer, its markup removed ("" when none)


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model is, for /v1/models, /api/show and banners."""

    name: str
    path: str
    backend: str
    context_length: int  # per sequence
    architecture: str = ""
    vocab_size: int = 0  # token ids are 0 .. vocab_size-1; 0: unknown (nothing is checked against it)
    parameter_count: int = 0
    quantization: str = ""
    file_format: str = ""
    chat_template: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Embeddings (core/embedding.py): the vector size (0: this backend does not embed), the pooling
    # that makes one vector of a sequence, and whether the model generates text at all (a dedicated
    # embedding model does not: chat and completion requests to it are refused).
    embedding_length: int = 0
    pooling: str = ""
    generates: bool = True
    # The model's own sampling defaults (GGUF `general.sampling.*`, HF generation_config.json), by the
    # names of SamplingParams.
    sampling_defaults: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadStats:
    """What a backend is doing now, for /health and draining (approximate: read without locks)."""

    active: int  # sequences holding a slot (prefilling or decoding)
    queued: int  # admitted requests waiting for a slot
    slots: int  # sequences that can run at once
    max_queue: int  # queued requests allowed before new ones are refused
    kv_tokens: int = 0  # KV-cache cells held by running sequences (prompt and generated tokens)
    kv_capacity: int = 0  # KV-cache cells for all slots together
    # The prompt cache beyond the slots (llama.cpp `--cache-ram`): bytes of saved sequence states, how
    # many, and the bound. Zero where a backend has none.
    prompt_cache_bytes: int = 0
    prompt_cache_entries: int = 0
    prompt_cache_limit_bytes: int = 0
