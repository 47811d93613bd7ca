"""Bounds on what one request may ask for, checked against the loaded model, for every protocol.

Every endpoint's request becomes a `GenerationRequest` and is planned here before anything runs, so
these hold for endpoints added later too. Numbers follow OpenAI's where it documents one (128 tools,
20 top logprobs; its 4 stop strings stay in the OpenAI schema), and are generous elsewhere; the README
("Limits") lists them.
"""

from __future__ import annotations

import math

from ..core.errors import ContextLengthExceeded, InvalidRequest
from ..core.types import GenerationRequest, ModelInfo

MAX_MESSAGES = 10_000
MAX_TOOLS = 256  # OpenAI documents 128; agents with many MCP servers send more
MAX_STOP = 16
MAX_STOP_CHARS = 1_000  # per stop string
MAX_LOGIT_BIAS = 1_024  # entries
LOGIT_BIAS_RANGE = 100.0  # |bias| at most, as OpenAI
MAX_LOGPROBS = 20  # alternatives per token, as OpenAI's top_logprobs
MAX_N = 16  # choices of one request (OpenAI's own schema caps n lower)
MAX_CONTENT_PARTS = 1_000  # content parts / blocks of one message (checked in the protocols' schemas)


def check_request(request: GenerationRequest, info: ModelInfo) -> None:
    """Refuse a request whose lists or numbers are out of bounds, naming the field (OpenAI's names)."""
    if len(request.messages) > MAX_MESSAGES:
        raise InvalidRequest(
            f"at most {MAX_MESSAGES} messages are allowed, got {len(request.messages)}", param="messages"
        )
    if len(request.tools) > MAX_TOOLS:
        raise InvalidRequest(f"at most {MAX_TOOLS} tools are allowed, got {len(request.tools)}", param="tools")
    if len(request.stop) > MAX_STOP:
        raise InvalidRequest(f"at most {MAX_STOP} stop sequences are allowed, got {len(request.stop)}", param="stop")
    for i, stop in enumerate(request.stop):
        if len(stop) > MAX_STOP_CHARS:
            raise InvalidRequest(
                f"a stop sequence may be at most {MAX_STOP_CHARS} characters, got {len(stop)}", param=f"stop[{i}]"
            )
    if not 1 <= request.n <= MAX_N:
        raise InvalidRequest(f"n must be between 1 and {MAX_N}, got {request.n}", param="n")
    if request.logprobs is not None and not 0 <= request.logprobs <= MAX_LOGPROBS:
        raise InvalidRequest(
            f"top_logprobs must be between 0 and {MAX_LOGPROBS}, got {request.logprobs}", param="top_logprobs"
        )
    # A raw prompt may ask for 0 tokens: /v1/completions with echo + logprobs scores a text that way.
    least = 1 if request.messages else 0
    if request.max_tokens is not None and request.max_tokens < least:
        name = request.max_tokens_field
        raise InvalidRequest(f"{name} must be at least {least}, got {request.max_tokens}", param=name)
    _check_logit_bias(request, info)


def _check_logit_bias(request: GenerationRequest, info: ModelInfo) -> None:
    bias = request.sampling.logit_bias
    if len(bias) > MAX_LOGIT_BIAS:
        raise InvalidRequest(
            f"logit_bias may have at most {MAX_LOGIT_BIAS} entries, got {len(bias)}", param="logit_bias"
        )
    bad_values = [t for t, v in bias.items() if not (math.isfinite(v) and abs(v) <= LOGIT_BIAS_RANGE)]
    if bad_values:
        raise InvalidRequest(
            f"logit_bias values must be between -{LOGIT_BIAS_RANGE:g} and {LOGIT_BIAS_RANGE:g}; "
            f"not so for token ids {_listed(bad_values)}",
            param="logit_bias",
        )
    if info.vocab_size:
        outside = [t for t in bias if not 0 <= t < info.vocab_size]
        if outside:
            raise InvalidRequest(
                f"logit_bias names token ids outside this model's vocabulary (0 to {info.vocab_size - 1}): "
                f"{_listed(outside)}",
                param="logit_bias",
            )


def max_tokens_for(request: GenerationRequest, prompt_tokens: int, context: int) -> int:
    """How many tokens may be generated: the caller's max_tokens if the context holds it after the
    prompt (400 otherwise), the server default cut to the room, or the room (None: until full)."""
    if prompt_tokens >= context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your messages resulted in "
            f"{prompt_tokens} tokens. Please reduce the length of the messages.",
            param="messages",
        )
    room = context - prompt_tokens
    if request.max_tokens is None:
        return room
    if request.max_tokens > room and not request.max_tokens_is_default:
        name = request.max_tokens_field
        raise ContextLengthExceeded(
            f"{name} is too large: {request.max_tokens}. This model's maximum context length is {context} "
            f"tokens and your messages resulted in {prompt_tokens} tokens, which leaves room for at most "
            f"{room} completion tokens. Please reduce {name} or the length of the messages.",
            param=name,
        )
    return min(request.max_tokens, room)


def _listed(tokens: list[int], most: int = 10) -> str:
    shown = ", ".join(str(t) for t in sorted(tokens)[:most])
    return shown + (f" and {len(tokens) - most} more" if len(tokens) > most else "")
